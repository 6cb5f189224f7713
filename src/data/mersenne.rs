//! The Mersenne Twister (MT19937) as the libraries webtune mirrors draw from it, so that the same
//! draws come out here: numpy's legacy `RandomState(seed).permutation(n)` (how setfit orders its
//! contrastive pairs; tests/setfit.rs) and Python's `random` module (`random.seed(n)`,
//! `random()`, `randint`, `uniform`, `choice`: how EDA's word swaps and deletions draw;
//! tests/augment.rs).

const N: usize = 624;
const M: usize = 397;

/// The generator's state.
struct Mt19937 {
    state: [u32; N],
    pos: usize,
}

impl Mt19937 {
    /// `init_genrand(seed)`.
    fn new(seed: u32) -> Self {
        let mut state = [0u32; N];
        state[0] = seed;
        for i in 1..N {
            state[i] = 1_812_433_253u32.wrapping_mul(state[i - 1] ^ (state[i - 1] >> 30)).wrapping_add(i as u32);
        }
        Mt19937 { state, pos: N }
    }

    /// `init_by_array(key)`, as CPython seeds from an integer's 32-bit words.
    fn from_key(key: &[u32]) -> Self {
        let mut g = Mt19937::new(19_650_218);
        let mt = &mut g.state;
        let (mut i, mut j) = (1usize, 0usize);
        for _ in 0..N.max(key.len()) {
            mt[i] = (mt[i] ^ (mt[i - 1] ^ (mt[i - 1] >> 30)).wrapping_mul(1_664_525)).wrapping_add(key[j]).wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
            if j >= key.len() {
                j = 0;
            }
        }
        for _ in 0..N - 1 {
            mt[i] = (mt[i] ^ (mt[i - 1] ^ (mt[i - 1] >> 30)).wrapping_mul(1_566_083_941)).wrapping_sub(i as u32);
            i += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
        }
        mt[0] = 0x8000_0000;
        g
    }

    fn twist(&mut self) {
        for i in 0..N {
            let y = (self.state[i] & 0x8000_0000) | (self.state[(i + 1) % N] & 0x7fff_ffff);
            self.state[i] = self.state[(i + M) % N] ^ (y >> 1) ^ if y & 1 == 1 { 0x9908_b0df } else { 0 };
        }
        self.pos = 0;
    }

    /// The next 32 random bits (`genrand_uint32`).
    fn next_u32(&mut self) -> u32 {
        if self.pos >= N {
            self.twist();
        }
        let mut y = self.state[self.pos];
        self.pos += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }
}

/// numpy's legacy `RandomState` of an integer seed.
pub struct RandomState(Mt19937);

impl RandomState {
    /// `np.random.RandomState(seed)` for a seed in 0..2³².
    pub fn new(seed: u32) -> Self {
        RandomState(Mt19937::new(seed))
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }

    fn next_u64(&mut self) -> u64 {
        (u64::from(self.next_u32()) << 32) | u64::from(self.next_u32())
    }

    /// A number in 0..=max, by numpy's masked rejection (`random_interval`).
    fn interval(&mut self, max: u64) -> u64 {
        if max == 0 {
            return 0;
        }
        let mut mask = max;
        for shift in [1, 2, 4, 8, 16, 32] {
            mask |= mask >> shift;
        }
        loop {
            let value = if max <= u64::from(u32::MAX) { u64::from(self.next_u32()) & mask } else { self.next_u64() & mask };
            if value <= max {
                return value;
            }
        }
    }

    /// `RandomState.permutation(n)`: 0..n shuffled by numpy's legacy Fisher–Yates.
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.interval(i as u64) as usize;
            order.swap(i, j);
        }
        order
    }
}

/// Python's `random.Random` of an integer seed.
pub struct PyRandom(Mt19937);

impl PyRandom {
    /// `random.seed(seed)` (CPython: `init_by_array` over the seed's 32-bit words).
    pub fn new(seed: u64) -> Self {
        let key: Vec<u32> = if seed >> 32 == 0 { vec![seed as u32] } else { vec![seed as u32, (seed >> 32) as u32] };
        PyRandom(Mt19937::from_key(&key))
    }

    /// `random.random()`: 53 random bits in [0, 1).
    pub fn random(&mut self) -> f64 {
        let a = self.0.next_u32() >> 5;
        let b = self.0.next_u32() >> 6;
        (f64::from(a) * 67_108_864.0 + f64::from(b)) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// `random.uniform(a, b)`.
    pub fn uniform(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.random()
    }

    /// `random.getrandbits(k)` for k in 1..=32.
    fn bits(&mut self, k: u32) -> u32 {
        self.0.next_u32() >> (32 - k)
    }

    /// `random._randbelow(n)`: uniform in 0..n by rejection on `n.bit_length()` bits (n ≥ 1,
    /// below 2³²).
    pub fn below(&mut self, n: usize) -> usize {
        let n = n.clamp(1, u32::MAX as usize) as u32;
        let k = 32 - n.leading_zeros();
        loop {
            let r = self.bits(k);
            if r < n {
                return r as usize;
            }
        }
    }

    /// `random.randint(a, b)`, both ends included (a ≤ b).
    pub fn randint(&mut self, a: usize, b: usize) -> usize {
        a + self.below(b - a + 1)
    }

    /// `random.sample(range(n), k)`: `k` distinct indices below `n` in draw order (k ≤ n; a
    /// larger `k` is cut to `n`), by CPython's two methods: a shrinking pool for small
    /// populations, redraws against the chosen set for large ones.
    pub fn sample(&mut self, n: usize, k: usize) -> Vec<usize> {
        let k = k.min(n);
        let mut setsize = 21usize;
        if k > 5 {
            setsize += 4usize.saturating_pow(((k * 3) as f64).log(4.0).ceil() as u32);
        }
        if n <= setsize {
            let mut pool: Vec<usize> = (0..n).collect();
            (0..k)
                .map(|i| {
                    let j = self.below(n - i);
                    let chosen = pool[j];
                    pool[j] = pool[n - i - 1];
                    chosen
                })
                .collect()
        } else {
            let mut chosen = Vec::with_capacity(k);
            for _ in 0..k {
                let mut j = self.below(n);
                while chosen.contains(&j) {
                    j = self.below(n);
                }
                chosen.push(j);
            }
            chosen
        }
    }

    /// `random.choices(range(len(weights)), weights)[0]`: an index drawn with probability
    /// proportional to its weight (weights ≥ 0, not all 0; `None` for an empty list).
    pub fn weighted_index(&mut self, weights: &[f64]) -> Option<usize> {
        let cumulative: Vec<f64> = weights.iter().scan(0.0, |sum, w| { *sum += w; Some(*sum) }).collect();
        let total = *cumulative.last()?;
        let x = self.random() * total;
        // bisect_right over cumulative[..len - 1]
        Some(cumulative[..cumulative.len() - 1].partition_point(|&c| c <= x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_draws_are_the_reference_mersenne_twisters() {
        // init_genrand(5489), the reference implementation's default seed: its 1st and 10000th output
        let mut r = RandomState::new(5489);
        assert_eq!(r.next_u32(), 3_499_211_612);
        let last = (1..10_000).map(|_| r.next_u32()).last().unwrap();
        assert_eq!(last, 4_123_659_995);
    }

    #[test]
    fn pythons_random_draws_what_cpython_draws() {
        // random.seed(1); random.random() ×3, and random.seed(42); random.random()
        let mut r = PyRandom::new(1);
        assert_eq!([r.random(), r.random(), r.random()], [0.13436424411240122, 0.8474337369372327, 0.763774618976614]);
        assert_eq!(PyRandom::new(42).random(), 0.6394267984578837);
    }
}
