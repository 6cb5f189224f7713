//! The index of the largest value of a row on the host: greedy decoding and classifier
//! predictions read their scores through it.

/// The index of the largest score (the first one on ties, as torch's argmax).
pub fn argmax(scores: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &x) in scores.iter().enumerate() {
        if x > scores[best] {
            best = i;
        }
    }
    best as u32
}
