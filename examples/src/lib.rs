//! Example services built on the Weir SDKs (see README.md; built in the SDK issue).
