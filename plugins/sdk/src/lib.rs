//! Guest-side SDK for Weir WebAssembly plugins (see README.md; built in the plugins issue).
