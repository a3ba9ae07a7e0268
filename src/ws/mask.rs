//! Payload masking (RFC 6455 section 5.3).
//!
//! Every frame a client sends is XORed with a 4-byte key that repeats over
//! the payload. Masking and unmasking are the same operation. This is the
//! one loop that touches every payload byte a server receives, so it works
//! on 8 bytes at a time: the key is repeated into a `u64` and XORed in one
//! instruction, which the compiler can further widen into SIMD.
//!
//! A payload may arrive in several reads, so both functions take the
//! `offset` of `buf[0]` within the frame payload: byte `i` of the payload is
//! XORed with `key[i % 4]`, wherever the read boundaries fall.

use std::mem::MaybeUninit;

/// XORs `buf` with the repeating `key`, where `buf[0]` is byte `offset` of
/// the frame payload. Word-at-a-time, and on x86_64 CPUs with AVX-512 or
/// AVX2 64 or 32 bytes an instruction; same result as
/// [`apply_mask_bytewise`].
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let key32 = key_at(key, offset);
    // The build targets baseline x86_64 (SSE2, 16-byte registers); most
    // CPUs a server runs on have AVX2, which halves the instructions of the
    // one pass over every received byte. The check is one load of a flag
    // std caches, so below a block of the wide loop it is not worth making.
    // AVX-512 halves them again where the CPU has it (a fifth less time
    // for 1 KiB in L1, an eighth for 64 KiB, in `cargo bench -- mask`).
    #[cfg(target_arch = "x86_64")]
    if buf.len() >= 64 {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: `mask_avx512` needs nothing but AVX-512F, and the CPU
            // has it: that was checked just above.
            unsafe { mask_avx512(buf, key32) };
            return;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: as above, for AVX2.
            unsafe { mask_avx2(buf, key32) };
            return;
        }
    }
    mask_words::<32>(buf, key32);
}

/// Appends `payload` XORed with `key` (from payload byte 0) to `out`: a
/// client's frame body written in one pass over the payload, where
/// copying it and then masking the copy would load and store every byte
/// twice. Same bytes as `extend_from_slice` then [`apply_mask`].
pub fn extend_masked(out: &mut Vec<u8>, payload: &[u8], key: [u8; 4]) {
    let key32 = u32::from_ne_bytes(key);
    let len = payload.len();
    out.reserve(len);
    let start = out.len();
    let dst = &mut out.spare_capacity_mut()[..len];
    let done = copy_masked_blocks(payload, dst, key32);
    copy_masked_words(&payload[done..], &mut dst[done..], key32);
    // SAFETY: the capacity was reserved above, and the vector loop wrote
    // `dst[..done]`, `copy_masked_words` the rest: all `len` bytes are set.
    unsafe { out.set_len(start + len) };
}

/// The whole 64-byte blocks of `src`, XORed into `dst` with the widest
/// vectors the CPU has; returns how many bytes that was (0 without AVX2).
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
fn copy_masked_blocks(src: &[u8], dst: &mut [MaybeUninit<u8>], key32: u32) -> usize {
    #[cfg(target_arch = "x86_64")]
    if src.len() >= 64 {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: `copy_masked_avx512` needs nothing but AVX-512F,
            // checked here, and `dst` is `src`'s length (its callers').
            return unsafe { copy_masked_avx512(src, dst, key32) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: as above, for AVX2.
            return unsafe { copy_masked_avx2(src, dst, key32) };
        }
    }
    0
}

/// Writes `src` XORed with `key32` repeated into `dst` (as long as `src`),
/// 8 bytes a step, then byte by byte; `src[0]` meets the key's first byte.
fn copy_masked_words(src: &[u8], dst: &mut [MaybeUninit<u8>], key32: u32) {
    let word = (u64::from(key32) << 32) | u64::from(key32);
    let mut from = src.chunks_exact(8);
    let mut to = dst.chunks_exact_mut(8);
    for (s, d) in (&mut from).zip(&mut to) {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(s);
        let masked = (u64::from_ne_bytes(bytes) ^ word).to_ne_bytes();
        for (d, b) in d.iter_mut().zip(masked) {
            d.write(b);
        }
    }
    // Whole words so far: the tail starts in phase with the key.
    let key = key32.to_ne_bytes();
    let tail = from.remainder().iter().zip(to.into_remainder());
    for (i, (s, d)) in tail.enumerate() {
        d.write(s ^ key[i & 3]);
    }
}

/// [`extend_masked`]'s whole 64-byte blocks on AVX-512: returns how many
/// bytes it wrote (`src.len()` rounded down to 64).
///
/// # Safety
/// The CPU must support AVX-512F, and `dst` be at least as long as `src`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn copy_masked_avx512(src: &[u8], dst: &mut [MaybeUninit<u8>], key32: u32) -> usize {
    use std::arch::x86_64::{
        __m512i, _mm512_loadu_si512, _mm512_set1_epi32, _mm512_storeu_si512, _mm512_xor_si512,
    };
    assert!(dst.len() >= src.len());
    let key = _mm512_set1_epi32(i32::from_ne_bytes(key32.to_ne_bytes()));
    let blocks = src.len() / 64;
    for i in 0..blocks {
        // SAFETY: block `i` ends at 64 (i + 1) <= src.len() <= dst.len();
        // unaligned loads and stores, and the two slices cannot overlap.
        unsafe {
            let from = src.as_ptr().add(64 * i).cast::<__m512i>();
            let to = dst.as_mut_ptr().add(64 * i).cast::<__m512i>();
            _mm512_storeu_si512(to, _mm512_xor_si512(_mm512_loadu_si512(from), key));
        }
    }
    blocks * 64
}

/// [`extend_masked`]'s whole 64-byte blocks on AVX2 (two 32-byte XORs a
/// block): returns how many bytes it wrote.
///
/// # Safety
/// The CPU must support AVX2, and `dst` be at least as long as `src`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn copy_masked_avx2(src: &[u8], dst: &mut [MaybeUninit<u8>], key32: u32) -> usize {
    use std::arch::x86_64::{
        __m256i, _mm256_loadu_si256, _mm256_set1_epi32, _mm256_storeu_si256, _mm256_xor_si256,
    };
    assert!(dst.len() >= src.len());
    let key = _mm256_set1_epi32(i32::from_ne_bytes(key32.to_ne_bytes()));
    let blocks = src.len() / 64;
    for i in 0..blocks {
        // SAFETY: as in `copy_masked_avx512`.
        unsafe {
            let from = src.as_ptr().add(64 * i).cast::<__m256i>();
            let to = dst.as_mut_ptr().add(64 * i).cast::<__m256i>();
            let low = _mm256_loadu_si256(from);
            let high = _mm256_loadu_si256(from.add(1));
            _mm256_storeu_si256(to, _mm256_xor_si256(low, key));
            _mm256_storeu_si256(to.add(1), _mm256_xor_si256(high, key));
        }
    }
    blocks * 64
}

/// Unmasks a whole payload and moves it `shift` bytes towards the front in
/// the same pass: `buf[shift..]` holds the masked payload (from its byte
/// 0), and afterwards `buf[..buf.len() - shift]` holds it unmasked; the
/// last `shift` bytes keep what they held. A server that frames its echo
/// in place in the read buffer moves each payload up against the frame
/// before it this way (src/ws/reader.rs), at no cost over unmasking it
/// where it lies: every byte is loaded and stored once either way.
pub fn unmask_shifted(buf: &mut [u8], shift: usize, key: [u8; 4]) {
    let shift = shift.min(buf.len());
    if shift == 0 {
        return apply_mask(buf, key, 0);
    }
    let key32 = u32::from_ne_bytes(key);
    #[cfg(target_arch = "x86_64")]
    if buf.len() - shift >= 64 {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: `shift_avx512` needs nothing but AVX-512F, checked here.
            unsafe { shift_avx512(buf, shift, key32) };
            return;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: as above, for AVX2.
            unsafe { shift_avx2(buf, shift, key32) };
            return;
        }
    }
    shift_words(buf, 0, shift, key32);
}

/// [`unmask_shifted`] from payload byte `from` on (a multiple of 4, so
/// the key is in phase): the bytes moved, then unmasked where they landed.
/// Two passes, but over less than one vector's worth of bytes after the
/// vector loops; only a CPU without AVX2 sends a whole payload this way.
fn shift_words(buf: &mut [u8], from: usize, shift: usize, key32: u32) {
    let len = buf.len() - shift;
    if from >= len {
        return;
    }
    buf.copy_within(shift + from.., from);
    mask_words::<32>(&mut buf[from..len], key32);
}

/// [`unmask_shifted`], 64 bytes a step on AVX-512.
///
/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn shift_avx512(buf: &mut [u8], shift: usize, key32: u32) {
    use std::arch::x86_64::{
        __m512i, _mm512_loadu_si512, _mm512_set1_epi32, _mm512_storeu_si512, _mm512_xor_si512,
    };
    let key = _mm512_set1_epi32(i32::from_ne_bytes(key32.to_ne_bytes()));
    let blocks = (buf.len() - shift) / 64;
    let base = buf.as_mut_ptr();
    for i in 0..blocks {
        // SAFETY: block `i` is read from `shift + 64 i` and written to
        // `64 i`, both ending within `buf` (64 (i + 1) <= buf.len() -
        // shift). Each block is loaded before it is stored, and stores go
        // no further than the next load starts, so overlap loses nothing.
        unsafe {
            let from = base.add(shift + 64 * i).cast::<__m512i>();
            let to = base.add(64 * i).cast::<__m512i>();
            _mm512_storeu_si512(to, _mm512_xor_si512(_mm512_loadu_si512(from), key));
        }
    }
    shift_words(buf, blocks * 64, shift, key32);
}

/// [`unmask_shifted`], 64 bytes a step (two 32-byte XORs) on AVX2.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn shift_avx2(buf: &mut [u8], shift: usize, key32: u32) {
    use std::arch::x86_64::{
        __m256i, _mm256_loadu_si256, _mm256_set1_epi32, _mm256_storeu_si256, _mm256_xor_si256,
    };
    let key = _mm256_set1_epi32(i32::from_ne_bytes(key32.to_ne_bytes()));
    let blocks = (buf.len() - shift) / 64;
    let base = buf.as_mut_ptr();
    for i in 0..blocks {
        // SAFETY: as in `shift_avx512`: both halves of block `i` are
        // loaded before either is stored.
        unsafe {
            let from = base.add(shift + 64 * i).cast::<__m256i>();
            let to = base.add(64 * i).cast::<__m256i>();
            let low = _mm256_loadu_si256(from);
            let high = _mm256_loadu_si256(from.add(1));
            _mm256_storeu_si256(to, _mm256_xor_si256(low, key));
            _mm256_storeu_si256(to.add(1), _mm256_xor_si256(high, key));
        }
    }
    shift_words(buf, blocks * 64, shift, key32);
}

/// The key rotated so that its first byte lines up with payload byte
/// `offset`; after that the position within the payload no longer
/// matters. A rotation of the key as one 32-bit word, in memory order: a
/// fixed handful of instructions, where rotating the array calls a general
/// routine that costs as much as masking a small payload.
fn key_at(key: [u8; 4], offset: usize) -> u32 {
    let shift = 8 * (offset & 3) as u32;
    let key32 = u32::from_ne_bytes(key);
    if cfg!(target_endian = "little") {
        key32.rotate_right(shift)
    } else {
        key32.rotate_left(shift)
    }
}

/// [`mask_words`] compiled for AVX2, 64 bytes a step (two 32-byte XORs).
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn mask_avx2(buf: &mut [u8], key32: u32) {
    mask_words::<64>(buf, key32);
}

/// XORs `buf` with `key32` repeated, 64 bytes an instruction. Written
/// with intrinsics: left to the compiler, the word loop of `mask_words`
/// becomes gathers and scatters under AVX-512 instead of one load and one
/// store per 64 bytes.
///
/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn mask_avx512(buf: &mut [u8], key32: u32) {
    use std::arch::x86_64::{
        __m512i, _mm512_loadu_si512, _mm512_set1_epi32, _mm512_storeu_si512, _mm512_xor_si512,
    };
    // The same 32 bits in every lane, in memory order: a reinterpretation.
    let key = _mm512_set1_epi32(i32::from_ne_bytes(key32.to_ne_bytes()));
    let mut blocks = buf.chunks_exact_mut(64);
    for block in &mut blocks {
        let at = block.as_mut_ptr().cast::<__m512i>();
        // SAFETY: `block` is 64 bytes, exactly one unaligned vector.
        unsafe { _mm512_storeu_si512(at, _mm512_xor_si512(_mm512_loadu_si512(at), key)) };
    }
    // Each block was a multiple of 4 bytes long: the rest starts in phase.
    mask_words::<32>(blocks.into_remainder(), key32);
}

/// XORs `buf` with `key32` repeated, `BLOCK` bytes a step: independent
/// 8-byte words, which the compiler turns into vector XORs as wide as the
/// target allows (two 16-byte ones per 32 bytes with SSE2). `BLOCK` must be
/// a multiple of 8. Inlined into each caller so that a caller compiled for
/// wider vectors gets them.
#[inline(always)]
fn mask_words<const BLOCK: usize>(buf: &mut [u8], key32: u32) {
    let word = (u64::from(key32) << 32) | u64::from(key32);
    let mut wide = buf.chunks_exact_mut(BLOCK);
    for block in &mut wide {
        for chunk in block.chunks_exact_mut(8) {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(chunk);
            let masked = u64::from_ne_bytes(bytes) ^ word;
            chunk.copy_from_slice(&masked.to_ne_bytes());
        }
    }
    // Each block was a multiple of 4 bytes long: the rest starts in phase.
    let mut chunks = wide.into_remainder().chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        // Native endianness on both sides: we only reinterpret memory, so
        // byte j of the word still meets key byte j % 4.
        let masked = u64::from_ne_bytes(bytes) ^ word;
        chunk.copy_from_slice(&masked.to_ne_bytes());
    }
    // Each chunk was a multiple of 4 bytes long, so the tail starts in
    // phase with the (rotated) key again.
    let key = key32.to_ne_bytes();
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= key[i & 3];
    }
}

/// The obvious one-byte-at-a-time version of [`apply_mask`]: the reference
/// the fast version is tested (and benchmarked) against.
pub fn apply_mask_bytewise(buf: &mut [u8], key: [u8; 4], offset: usize) {
    for (i, byte) in buf.iter_mut().enumerate() {
        *byte ^= key[(offset.wrapping_add(i)) & 3];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_example() {
        // RFC 6455 section 5.7: masked "Hello".
        let mut payload = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
        apply_mask(&mut payload, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(&payload, b"Hello");
    }

    #[test]
    fn masking_twice_is_identity() {
        let original: Vec<u8> = (0..=255u8).collect();
        let mut buf = original.clone();
        apply_mask(&mut buf, [1, 2, 3, 4], 3);
        assert_ne!(buf, original);
        apply_mask(&mut buf, [1, 2, 3, 4], 3);
        assert_eq!(buf, original);
    }

    #[test]
    fn word_wise_matches_bytewise_on_random_inputs() {
        let mut rng = fastrand::Rng::with_seed(0x5eed);
        for _ in 0..2000 {
            let len = rng.usize(0..300);
            let offset = rng.usize(..);
            let key = rng.u32(..).to_ne_bytes();
            let data: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
            let mut fast = data.clone();
            let mut slow = data;
            apply_mask(&mut fast, key, offset);
            apply_mask_bytewise(&mut slow, key, offset);
            assert_eq!(fast, slow, "len {len} offset {offset}");
        }
    }

    type MaskFn = fn(&mut [u8], u32);

    /// Every loop this CPU can run, not only the one `apply_mask` picks:
    /// the portable one always, the vector ones where the CPU has them.
    fn paths() -> Vec<(&'static str, MaskFn)> {
        let mut paths: Vec<(&'static str, MaskFn)> =
            vec![("portable", |buf, key| mask_words::<32>(buf, key))];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: only where the CPU has AVX2.
                paths.push(("avx2", |buf, key| unsafe { mask_avx2(buf, key) }));
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: only where the CPU has AVX-512F.
                paths.push(("avx512", |buf, key| unsafe { mask_avx512(buf, key) }));
            }
        }
        paths
    }

    #[test]
    fn every_path_matches_bytewise_around_their_block_sizes() {
        let mut rng = fastrand::Rng::with_seed(64);
        for len in (0..200).chain([1023, 1024, 1025, 4096 + 7]) {
            let key = rng.u32(..).to_ne_bytes();
            let data: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
            for offset in 0..4 {
                let mut expected = data.clone();
                apply_mask_bytewise(&mut expected, key, offset);
                let mut dispatched = data.clone();
                apply_mask(&mut dispatched, key, offset);
                assert_eq!(dispatched, expected, "len {len} offset {offset}");
                for (path, mask) in paths() {
                    let mut masked = data.clone();
                    mask(&mut masked, key_at(key, offset));
                    assert_eq!(masked, expected, "{path}, len {len} offset {offset}");
                }
            }
        }
    }

    #[test]
    fn every_start_address_matches_bytewise() {
        // Payloads start wherever their header ended: try every address
        // within a cache line, with lengths on either side of the wide
        // path's threshold and block. The whole backing is compared: no
        // byte around the slice may change.
        let mut rng = fastrand::Rng::with_seed(32);
        let backing: Vec<u8> = (0..1300).map(|_| rng.u8(..)).collect();
        let line = backing.as_ptr().align_offset(64);
        for start in line..=line + 64 {
            for len in [0, 1, 5, 31, 63, 64, 65, 95, 96, 127, 128, 1024, 1031] {
                let key = rng.u32(..).to_ne_bytes();
                let offset = rng.usize(..);
                let mut expected = backing.clone();
                apply_mask_bytewise(&mut expected[start..start + len], key, offset);
                let mut masked = backing.clone();
                apply_mask(&mut masked[start..start + len], key, offset);
                assert_eq!(masked, expected, "start {start} len {len} offset {offset}");
                for (path, mask) in paths() {
                    let mut masked = backing.clone();
                    mask(&mut masked[start..start + len], key_at(key, offset));
                    assert_eq!(masked, expected, "{path}, start {start} len {len}");
                }
            }
        }
    }

    type ShiftFn = fn(&mut [u8], usize, u32);

    /// Every loop of `unmask_shifted` this CPU can run.
    fn shift_paths() -> Vec<(&'static str, ShiftFn)> {
        let mut paths: Vec<(&'static str, ShiftFn)> = vec![("portable", |buf, shift, key| {
            shift_words(buf, 0, shift, key)
        })];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: only where the CPU has AVX2.
                paths.push(("avx2", |buf, shift, key| unsafe {
                    shift_avx2(buf, shift, key)
                }));
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: only where the CPU has AVX-512F.
                paths.push(("avx512", |buf, shift, key| unsafe {
                    shift_avx512(buf, shift, key)
                }));
            }
        }
        paths
    }

    #[test]
    fn shifted_unmask_is_unmask_then_move() {
        // The reference: unmask in place bytewise, then move the payload.
        // Every path, shifts from none to more than a header, lengths on
        // either side of each block size, and the bytes around the slice
        // and behind the moved payload unchanged.
        let mut rng = fastrand::Rng::with_seed(4);
        let backing: Vec<u8> = (0..1400).map(|_| rng.u8(..)).collect();
        for start in [0, 1, 3, 8, 61] {
            for shift in [0, 1, 4, 5, 8, 12, 63, 64, 70] {
                for len in [
                    0, 1, 7, 8, 31, 32, 33, 63, 64, 65, 100, 127, 128, 1024, 1031,
                ] {
                    let key = rng.u32(..).to_ne_bytes();
                    let end = start + shift + len;
                    let mut expected = backing.clone();
                    apply_mask_bytewise(&mut expected[start + shift..end], key, 0);
                    expected.copy_within(start + shift..end, start);
                    expected[start + len..end].copy_from_slice(&backing[start + len..end]);
                    let mut shifted = backing.clone();
                    unmask_shifted(&mut shifted[start..end], shift, key);
                    assert_eq!(shifted, expected, "start {start} shift {shift} len {len}");
                    if shift == 0 {
                        continue;
                    }
                    for (path, f) in shift_paths() {
                        let mut shifted = backing.clone();
                        f(&mut shifted[start..end], shift, u32::from_ne_bytes(key));
                        assert_eq!(
                            shifted, expected,
                            "{path}: start {start} shift {shift} len {len}"
                        );
                    }
                }
            }
        }
    }

    type CopyFn = fn(&[u8], &mut [MaybeUninit<u8>], u32) -> usize;

    /// Every block loop of `extend_masked` this CPU can run; each returns
    /// how many bytes it wrote, and the portable loop writes the rest.
    fn copy_paths() -> Vec<(&'static str, CopyFn)> {
        let mut paths: Vec<(&'static str, CopyFn)> = vec![("portable", |_, _, _| 0)];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: only where the CPU has AVX2; `dst` is `src`'s length.
                paths.push(("avx2", |src, dst, key| unsafe {
                    copy_masked_avx2(src, dst, key)
                }));
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: only where the CPU has AVX-512F; as above.
                paths.push(("avx512", |src, dst, key| unsafe {
                    copy_masked_avx512(src, dst, key)
                }));
            }
        }
        paths
    }

    #[test]
    fn masked_copy_is_copy_then_mask() {
        // Every path, payloads starting at every address within a cache
        // line, lengths on either side of each block size, appended after
        // bytes already in the vector, which must stay as they were.
        let mut rng = fastrand::Rng::with_seed(9);
        let backing: Vec<u8> = (0..1200).map(|_| rng.u8(..)).collect();
        let line = backing.as_ptr().align_offset(64);
        for start in line..=line + 64 {
            for len in [
                0, 1, 3, 7, 8, 9, 31, 63, 64, 65, 100, 127, 128, 129, 1024, 1031,
            ] {
                let key = rng.u32(..).to_ne_bytes();
                let prefix: Vec<u8> = (0..rng.usize(0..5)).map(|_| rng.u8(..)).collect();
                let payload = &backing[start..start + len];
                let mut expected = prefix.clone();
                expected.extend_from_slice(payload);
                apply_mask_bytewise(&mut expected[prefix.len()..], key, 0);

                let mut out = prefix.clone();
                extend_masked(&mut out, payload, key);
                assert_eq!(out, expected, "dispatched: start {start} len {len}");
                for (path, f) in copy_paths() {
                    let mut out = prefix.clone();
                    out.reserve(len);
                    let key32 = u32::from_ne_bytes(key);
                    let dst = &mut out.spare_capacity_mut()[..len];
                    let done = f(payload, dst, key32);
                    assert_eq!(done % 64, 0, "{path}");
                    copy_masked_words(&payload[done..], &mut dst[done..], key32);
                    // SAFETY: `f` and `copy_masked_words` wrote all `len`
                    // bytes of the reserved capacity.
                    unsafe { out.set_len(prefix.len() + len) };
                    assert_eq!(out, expected, "{path}: start {start} len {len}");
                }
            }
        }
    }

    #[test]
    fn resuming_mid_payload_matches_one_pass() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..500 {
            let len = rng.usize(0..200);
            let key = rng.u32(..).to_ne_bytes();
            let data: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
            let mut whole = data.clone();
            apply_mask(&mut whole, key, 0);

            // Split the payload into random pieces, as reads would.
            let mut pieces = data;
            let mut pos = 0;
            while pos < len {
                let end = (pos + rng.usize(1..=17)).min(len);
                apply_mask(&mut pieces[pos..end], key, pos);
                pos = end;
            }
            assert_eq!(pieces, whole);
        }
    }
}
