//! Mutations of a valid input, as a coverage-less fuzzer makes them: byte
//! flips, insertions and deletions, repeated ranges, and tokens of the
//! format spliced in. (cargo-fuzz/libFuzzer would guide them by coverage;
//! it needs a nightly compiler, which CI does not have.)

use rand::rngs::SmallRng;
use rand::Rng;

/// Applies 1–8 random mutations to `input`, splicing from `tokens`.
pub fn mutate(rng: &mut SmallRng, input: &[u8], tokens: &[&str]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..rng.random_range(1..=8) {
        let len = out.len();
        let at = if len == 0 {
            0
        } else {
            rng.random_range(0..=len)
        };
        match rng.random_range(0..7) {
            0 if len > 0 => {
                let i = rng.random_range(0..len);
                out[i] ^= 1 << rng.random_range(0..8);
            }
            1 => out.insert(at, rng.random()),
            2 if len > 0 => {
                let end = (at + rng.random_range(1..=16)).min(len);
                out.drain(at.min(len)..end);
            }
            3 if len > 0 => {
                // Repeat a range, up to a few thousand times: deep nesting
                // and huge values come from here.
                let start = rng.random_range(0..len);
                let end = (start + rng.random_range(1..=32)).min(len);
                let piece = out[start..end].to_vec();
                let times = if rng.random_bool(0.1) {
                    rng.random_range(100..4000)
                } else {
                    rng.random_range(1..4)
                };
                let at = at.min(out.len());
                for _ in 0..times {
                    out.splice(at..at, piece.iter().copied());
                }
            }
            4 if !tokens.is_empty() => {
                let token = tokens[rng.random_range(0..tokens.len())];
                out.splice(at..at, token.bytes());
            }
            5 if len > 0 => {
                // An interesting byte: quotes, brackets, NUL, high bytes.
                const BYTES: &[u8] = b"\"'[]{}=,.\n\\\0\xff\xc3-+0123456789";
                let i = rng.random_range(0..len);
                out[i] = BYTES[rng.random_range(0..BYTES.len())];
            }
            _ => {
                // Cut the tail: truncated files.
                if len > 0 {
                    out.truncate(rng.random_range(0..len));
                }
            }
        }
    }
    out
}
