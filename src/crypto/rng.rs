//! The OS random number generator (ring's SystemRandom), also as a `rand_core` RNG for the hpke crate.

use ring::rand::{SecureRandom, SystemRandom};

pub fn system_rng() -> SystemRandom {
    SystemRandom::new()
}

pub fn random_array<const N: usize>(rng: &dyn SecureRandom) -> [u8; N] {
    let mut out = [0u8; N];
    rng.fill(&mut out).expect("the OS random number generator failed");
    out
}

/// Adapts a ring `SecureRandom` to `rand_core`'s traits.
pub struct RingRng<'a>(pub &'a dyn SecureRandom);

impl rand_core::RngCore for RingRng<'_> {
    fn next_u32(&mut self) -> u32 {
        u32::from_le_bytes(random_array(self.0))
    }
    fn next_u64(&mut self) -> u64 {
        u64::from_le_bytes(random_array(self.0))
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill(dest).expect("the OS random number generator failed");
    }
}

impl rand_core::CryptoRng for RingRng<'_> {}
