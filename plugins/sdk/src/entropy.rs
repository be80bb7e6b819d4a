//! A `getrandom` 0.3 backend for plugins whose dependencies want random bytes (feature
//! `getrandom`; build with `--cfg getrandom_backend="custom"`, as scripts/build-plugins.sh does).
//!
//! The plugin ABI gives guests no source of entropy, and on wasm32-unknown-unknown `getrandom`
//! otherwise needs JavaScript. Crates such as `ahash` only want a seed for hash maps, so this
//! backend hands out a deterministic pseudo-random sequence (splitmix64). It is NOT suitable for
//! anything secret.

use std::cell::Cell;

thread_local! {
    static STATE: Cell<u64> = const { Cell::new(0x853c_49e6_748f_ea9b) };
}

/// The next value of the splitmix64 sequence.
fn next() -> u64 {
    STATE.with(|state| {
        let s = state.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        state.set(s);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    })
}

/// Fills `dest` with the next bytes of the sequence.
pub(crate) fn fill(dest: &mut [u8]) {
    for chunk in dest.chunks_mut(8) {
        let bytes = next().to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
}

/// The function `getrandom`'s `custom` backend calls.
#[cfg(all(feature = "getrandom", target_arch = "wasm32"))]
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
unsafe extern "Rust" fn __getrandom_v03_custom(
    dest: *mut u8,
    len: usize,
) -> Result<(), getrandom::Error> {
    // SAFETY: getrandom passes a valid, writable buffer of `len` bytes.
    fill(unsafe { std::slice::from_raw_parts_mut(dest, len) });
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn fills_any_length_with_varying_bytes() {
        let mut a = [0u8; 13];
        let mut b = [0u8; 13];
        super::fill(&mut a);
        super::fill(&mut b);
        assert_ne!(a, b);
        assert_ne!(a, [0; 13]);
    }
}
