//! Python bindings for Weir (see README.md; built in the SDK issue).
