//! The wasmtime engine shared by every plugin, compilation, and the on-disk cache of compiled
//! plugins.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, ProfilingStrategy};

use crate::bindings::{v1, v2};
use crate::instance::State;
use crate::{Error, Result};

/// How often the epoch advances; time budgets are counted in these ticks.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Set to `1` to write `/tmp/perf-PID.map` for the plugins' compiled code, for `perf`.
pub(crate) const PERFMAP_ENV: &str = "WEIR_WASM_PERFMAP";

/// Compiles and links plugins. One per broker; cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

struct RuntimeInner {
    engine: Engine,
    linker: Linker<State>,
    cache_dir: Option<PathBuf>,
    /// Distinguishes cache entries made by a different wasmtime or engine configuration.
    compat: String,
}

impl Runtime {
    /// A runtime whose compiled plugins are cached in `cache_dir` (if given), so a restart does
    /// not compile them again.
    pub fn new(cache_dir: Option<PathBuf>) -> Result<Runtime> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        if std::env::var_os(PERFMAP_ENV).is_some_and(|v| v == "1") {
            // `perf report` then names the plugins' compiled functions.
            config.profiler(ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&config).map_err(|e| Error::Invalid(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        // Plugins written in Python or JavaScript import WASI; they get a context with no files,
        // no network, no environment and no arguments.
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| Error::Invalid(format!("{e:#}")))?;
        v1::Plugin::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)
            .map_err(|e| Error::Invalid(format!("{e:#}")))?;
        v2::Plugin::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)
            .map_err(|e| Error::Invalid(format!("{e:#}")))?;
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("weir-wasm-epoch".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(EPOCH_TICK);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => return,
                    }
                }
            })?;
        if let Some(dir) = &cache_dir {
            std::fs::create_dir_all(dir)?;
        }
        let mut h = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        Ok(Runtime {
            inner: Arc::new(RuntimeInner {
                engine,
                linker,
                cache_dir,
                compat: format!("{:016x}", h.finish()),
            }),
        })
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Compiles `wasm` (a component) and checks that it implements the plugin world, using the
    /// cache when this exact binary was compiled before.
    pub fn compile(&self, wasm: &[u8]) -> Result<Module> {
        let sha256 = sha256_hex(wasm);
        let component = match self.load_cached(&sha256) {
            Some(c) => c,
            None => {
                let c = Component::new(&self.inner.engine, wasm)
                    .map_err(|e| Error::Invalid(format!("{e:#}")))?;
                self.store_cached(&sha256, &c);
                c
            }
        };
        let pre = self
            .inner
            .linker
            .instantiate_pre(&component)
            .map_err(|e| Error::Invalid(format!("{e:#}")))?;
        // A 0.2.0 component exports `process-batch`; otherwise it must be a 0.1.0 one.
        let pre = match v2::PluginPre::new(pre.clone()) {
            Ok(p) => Pre::V2(p),
            Err(_) => {
                Pre::V1(v1::PluginPre::new(pre).map_err(|e| Error::Invalid(format!("{e:#}")))?)
            }
        };
        Ok(Module {
            inner: Arc::new(ModuleInner {
                runtime: self.clone(),
                pre,
                sha256,
                size: wasm.len(),
            }),
        })
    }

    fn cache_paths(&self, sha256: &str) -> Option<(PathBuf, PathBuf)> {
        let dir = self.inner.cache_dir.as_ref()?;
        let stem = format!("{sha256}-{}", self.inner.compat);
        Some((
            dir.join(format!("{stem}.cwasm")),
            dir.join(format!("{stem}.sha256")),
        ))
    }

    fn load_cached(&self, sha256: &str) -> Option<Component> {
        let (path, digest_path) = self.cache_paths(sha256)?;
        let bytes = std::fs::read(&path).ok()?;
        let digest = std::fs::read_to_string(&digest_path).ok()?;
        if digest.trim() != sha256_hex(&bytes) {
            tracing::warn!(path = %path.display(), "compiled plugin cache entry is damaged; compiling again");
            return None;
        }
        load_precompiled(&self.inner.engine, &bytes, &path)
    }

    fn store_cached(&self, sha256: &str, component: &Component) {
        let Some((path, digest_path)) = self.cache_paths(sha256) else {
            return;
        };
        let result = component
            .serialize()
            .map_err(|e| std::io::Error::other(format!("{e:#}")))
            .and_then(|bytes| {
                write_atomic(&path, &bytes)?;
                write_atomic(&digest_path, sha256_hex(&bytes).as_bytes())
            });
        if let Err(e) = result {
            tracing::warn!(path = %path.display(), error = %e, "could not cache a compiled plugin");
        }
    }
}

/// Loads a compiled plugin from the cache.
#[allow(unsafe_code)]
fn load_precompiled(engine: &Engine, bytes: &[u8], path: &Path) -> Option<Component> {
    // SAFETY: wasmtime requires that the bytes came from `Component::serialize` of a compatible
    // engine. They did: the file is written only by `store_cached`, under a name that carries the
    // engine's compatibility hash, and its SHA-256 was just checked against the digest written
    // with it, so a damaged or foreign file is never deserialized.
    match unsafe { Component::deserialize(engine, bytes) } {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %format!("{e:#}"), "compiled plugin cache entry unusable");
            None
        }
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A component ready to instantiate, by the ABI version it implements.
pub(crate) enum Pre {
    V1(v1::PluginPre<State>),
    V2(v2::PluginPre<State>),
}

/// A compiled plugin, ready to instantiate. Cheap to clone.
#[derive(Clone)]
pub struct Module {
    pub(crate) inner: Arc<ModuleInner>,
}

pub(crate) struct ModuleInner {
    pub(crate) runtime: Runtime,
    pub(crate) pre: Pre,
    sha256: String,
    size: usize,
}

impl Module {
    /// SHA-256 of the plugin's wasm binary, hex.
    pub fn sha256(&self) -> &str {
        &self.inner.sha256
    }

    /// Size of the plugin's wasm binary in bytes.
    pub fn size(&self) -> usize {
        self.inner.size
    }

    /// Whether the component takes raw batches ([`crate::Instance::process_raw`], ABI 0.2.0).
    pub fn takes_raw_batches(&self) -> bool {
        matches!(self.inner.pre, Pre::V2(_))
    }

    /// The ABI version the component implements (`0.1.0` or `0.2.0`).
    pub fn abi_version(&self) -> &'static str {
        match self.inner.pre {
            Pre::V1(_) => "0.1.0",
            Pre::V2(_) => "0.2.0",
        }
    }
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module")
            .field("sha256", &self.inner.sha256)
            .field("size", &self.inner.size)
            .field("abi", &self.abi_version())
            .finish()
    }
}
