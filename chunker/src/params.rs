//! Chunker parameters and their validation.

use fastcdc::v2020::{
    AVERAGE_MAX, AVERAGE_MIN, MAXIMUM_MAX, MAXIMUM_MIN, MINIMUM_MAX, MINIMUM_MIN, Normalization,
};

/// Normalization level of the cut-point masks. Part of the repository format:
/// changing it moves every boundary, so it is not a parameter.
pub(crate) const NORMALIZATION: Normalization = Normalization::Level1;

/// Chunker parameters; stored in the repository config, so they are part of the format.
///
/// Sizes are in bytes. Build them with [`ChunkerParams::with_seed`] and check
/// values read back from a repository with [`ChunkerParams::validate`]: the
/// chunking functions of this crate expect valid parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkerParams {
    /// No chunk is shorter than this, except the last one of a stream.
    pub min_size: u32,
    /// Target chunk size; selects the cut-point masks.
    pub avg_size: u32,
    /// No chunk is longer than this.
    pub max_size: u32,
    /// XORed into every entry of the gear table; secret and random per repository.
    pub seed: u64,
}

impl ChunkerParams {
    // Chosen by measurement (README, "Chunk size"): on series of daily
    // pg_dump -Fc -Z0 dumps with scattered row updates, an 8 KiB average stores
    // 3.5x less per night than 64 KiB (and 40% less than 16 KiB on a 3 MB
    // dump), for ~10% more than 16 KiB on the first night.
    /// Default minimum chunk size (2 KiB).
    pub const DEFAULT_MIN: u32 = 2 * 1024;
    /// Default average chunk size (8 KiB).
    pub const DEFAULT_AVG: u32 = 8 * 1024;
    /// Default maximum chunk size (32 KiB).
    pub const DEFAULT_MAX: u32 = 32 * 1024;

    /// The default sizes with the given gear seed.
    #[must_use]
    pub fn with_seed(seed: u64) -> Self {
        Self {
            min_size: Self::DEFAULT_MIN,
            avg_size: Self::DEFAULT_AVG,
            max_size: Self::DEFAULT_MAX,
            seed,
        }
    }

    /// Checks the sizes against the bounds FastCDC supports.
    ///
    /// `min_size` must lie in [64, 1 MiB], `avg_size` in [256, 4 MiB],
    /// `max_size` in [1 KiB, 16 MiB], with `min_size <= avg_size <= max_size`.
    /// All three must be even: fastcdc scans candidates two bytes at a time and
    /// an odd size would silently move boundaries by one byte (fastcdc-rs
    /// issue #52; its debug builds assert on it).
    pub fn validate(&self) -> Result<(), ParamsError> {
        check_range("min_size", self.min_size, MINIMUM_MIN, MINIMUM_MAX)?;
        check_range("avg_size", self.avg_size, AVERAGE_MIN, AVERAGE_MAX)?;
        check_range("max_size", self.max_size, MAXIMUM_MIN, MAXIMUM_MAX)?;
        if self.min_size > self.avg_size {
            return Err(ParamsError::MinAboveAvg {
                min: self.min_size,
                avg: self.avg_size,
            });
        }
        if self.avg_size > self.max_size {
            return Err(ParamsError::AvgAboveMax {
                avg: self.avg_size,
                max: self.max_size,
            });
        }
        for (name, value) in [
            ("min_size", self.min_size),
            ("avg_size", self.avg_size),
            ("max_size", self.max_size),
        ] {
            if value % 2 != 0 {
                return Err(ParamsError::Odd { name, value });
            }
        }
        Ok(())
    }

    /// `(min, avg, max)` as the `usize`s fastcdc takes.
    pub(crate) fn sizes(&self) -> (usize, usize, usize) {
        (
            widen(self.min_size),
            widen(self.avg_size),
            widen(self.max_size),
        )
    }
}

fn widen(value: u32) -> usize {
    // Lossless on every target with pointers of 32 bits or more; saturating
    // elsewhere makes such a value fail validation instead of wrapping.
    usize::try_from(value).unwrap_or(usize::MAX)
}

fn check_range(name: &'static str, value: u32, low: usize, high: usize) -> Result<(), ParamsError> {
    if (low..=high).contains(&widen(value)) {
        Ok(())
    } else {
        Err(ParamsError::OutOfRange {
            name,
            value,
            low,
            high,
        })
    }
}

/// Why a [`ChunkerParams`] is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamsError {
    /// A size lies outside the bounds fastcdc supports.
    #[error("chunker {name} {value} is outside the supported range [{low}, {high}]")]
    OutOfRange {
        /// Field name: `min_size`, `avg_size` or `max_size`.
        name: &'static str,
        /// The offending value.
        value: u32,
        /// Smallest supported value.
        low: usize,
        /// Largest supported value.
        high: usize,
    },
    /// `min_size` exceeds `avg_size`.
    #[error("chunker min_size {min} is larger than avg_size {avg}")]
    MinAboveAvg {
        /// The offending `min_size`.
        min: u32,
        /// The `avg_size` it exceeds.
        avg: u32,
    },
    /// `avg_size` exceeds `max_size`.
    #[error("chunker avg_size {avg} is larger than max_size {max}")]
    AvgAboveMax {
        /// The offending `avg_size`.
        avg: u32,
        /// The `max_size` it exceeds.
        max: u32,
    },
    /// A size is odd.
    #[error("chunker {name} {value} is odd; sizes must be even")]
    Odd {
        /// Field name: `min_size`, `avg_size` or `max_size`.
        name: &'static str,
        /// The offending value.
        value: u32,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(min_size: u32, avg_size: u32, max_size: u32) -> ChunkerParams {
        ChunkerParams {
            min_size,
            avg_size,
            max_size,
            seed: 1,
        }
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(ChunkerParams::with_seed(42).validate(), Ok(()));
        assert_eq!(ChunkerParams::with_seed(42).seed, 42);
    }

    #[test]
    fn extreme_valid_values_pass() {
        assert_eq!(params(64, 256, 1024).validate(), Ok(()));
        assert_eq!(params(1 << 20, 4 << 20, 16 << 20).validate(), Ok(()));
        assert_eq!(params(1024, 1024, 1024).validate(), Ok(()));
    }

    #[test]
    fn each_bound_is_enforced_and_named() {
        let cases = [
            (
                params(62, 256, 1024),
                "chunker min_size 62 is outside the supported range [64, 1048576]",
            ),
            (
                params((1 << 20) + 2, 4 << 20, 16 << 20),
                "chunker min_size 1048578 is outside the supported range [64, 1048576]",
            ),
            (
                params(64, 254, 1024),
                "chunker avg_size 254 is outside the supported range [256, 4194304]",
            ),
            (
                params(64, (4 << 20) + 2, 16 << 20),
                "chunker avg_size 4194306 is outside the supported range [256, 4194304]",
            ),
            (
                params(64, 256, 1022),
                "chunker max_size 1022 is outside the supported range [1024, 16777216]",
            ),
            (
                params(64, 256, (16 << 20) + 2),
                "chunker max_size 16777218 is outside the supported range [1024, 16777216]",
            ),
            (
                params(4096, 2048, 8192),
                "chunker min_size 4096 is larger than avg_size 2048",
            ),
            (
                params(64, 4096, 2048),
                "chunker avg_size 4096 is larger than max_size 2048",
            ),
            (
                params(65, 256, 1024),
                "chunker min_size 65 is odd; sizes must be even",
            ),
            (
                params(64, 257, 1024),
                "chunker avg_size 257 is odd; sizes must be even",
            ),
            (
                params(64, 256, 1025),
                "chunker max_size 1025 is odd; sizes must be even",
            ),
        ];
        for (p, message) in cases {
            let err = p.validate().expect_err(message);
            assert_eq!(err.to_string(), message);
        }
    }
}
