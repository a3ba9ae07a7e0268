//! Deterministic ways to cut an input into pieces.
//!
//! A network delivers a stream in reads of any size, so every incremental
//! parser must give the same answer whatever the cut. The cut is derived
//! from a seed taken from the fuzz input itself, which keeps a crashing
//! input reproducible on its own.

/// Splits `data` into consecutive pieces whose sizes come from `seed`.
/// About half the pieces are tiny (1 to 16 bytes, to land inside headers
/// and code points), the others up to the whole remaining input.
pub fn split(data: &[u8], seed: u64) -> Vec<&[u8]> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut pieces = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let n = if rng.bool() {
            rng.usize(1..=16)
        } else {
            rng.usize(1..=rest.len())
        };
        let (piece, tail) = rest.split_at(n.min(rest.len()));
        pieces.push(piece);
        rest = tail;
    }
    pieces
}

/// Splits off the first `N` bytes as a control header for the target; the
/// rest is the payload under test. Short inputs get a zero header.
pub fn header<const N: usize>(data: &[u8]) -> ([u8; N], &[u8]) {
    let mut head = [0u8; N];
    let n = N.min(data.len());
    head[..n].copy_from_slice(&data[..n]);
    (head, &data[n..])
}
