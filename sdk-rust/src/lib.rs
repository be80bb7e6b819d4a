//! Weir Rust SDK (see README.md; built in the SDK issue).
