//! Compression that keeps pace with its producer, as `zstd --adapt` does.
//!
//! A nightly `pg_dump` streamed into a backup holds a database snapshot open
//! (and its load on the server) until the last byte is read. When the CPU
//! cannot compress as fast as the dump comes (two cores, one of them the
//! server's), a fixed zstd level makes the dump wait on coffer. With
//! [`CompressionPace::Adapt`], each batch of chunks is compressed at a level
//! chosen from what the previous batch showed:
//!
//! - the reader had already filled the queue (it is blocked, and so is the
//!   dump behind it): one step faster, down a ladder that ends at storing raw;
//! - the consumer had to wait for the batch (the producer is the slower
//!   side), or uploads held the consumer up (the store is the slower side,
//!   where smaller packs help): one step back up, never past the
//!   repository's level.
//!
//! Only new chunks are compressed at all, so a nightly run over a mostly
//! unchanged dump stays at the repository's level; a first backup on a small
//! machine stores more (what the bench measures, see the README). Which level
//! a blob was compressed at is not recorded and does not matter to readers:
//! every zstd frame decodes the same way (FORMAT.md, section 8).

use serde::Serialize;
use std::time::Duration;

/// How a backup picks the zstd level of its new chunks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CompressionPace {
    /// Always the repository's level.
    #[default]
    Fixed,
    /// The repository's level while the CPU keeps up, faster levels while it
    /// does not.
    Adapt,
}

/// What the consumer saw around one batch.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Signals {
    /// Time spent waiting for the batch to arrive.
    pub waited: Duration,
    /// Whether the queue was full when the batch was taken (the reader was
    /// blocked behind the consumer).
    pub queue_full: bool,
    /// Time the last batch spent waiting for uploads to finish.
    pub upload_wait: Duration,
    /// How long the last batch took to process, waits included.
    pub last_batch: Duration,
}

/// A wait shorter than this is scheduling noise, not a starved consumer.
const STARVED: Duration = Duration::from_millis(2);

/// The levels one [`Pacer`] moves between, and how many raw bytes of new
/// chunks each was given.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PaceReport {
    pub pace: CompressionPace,
    /// The repository's level: the ceiling.
    pub ceiling: i32,
    /// Per level used, from the ceiling down: batches, and bytes of chunks
    /// read in them (new or not).
    pub levels: Vec<LevelUse>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LevelUse {
    /// zstd's level; negative: its fast levels; 0: stored raw.
    pub level: i32,
    pub batches: u64,
    pub bytes: u64,
}

pub(crate) struct Pacer {
    pace: CompressionPace,
    ladder: Vec<i32>,
    /// Index into `ladder` (0: the ceiling).
    at: usize,
    used: Vec<(u64, u64)>,
}

impl Pacer {
    pub fn new(pace: CompressionPace, ceiling: i32) -> Self {
        let ladder = match pace {
            CompressionPace::Fixed => vec![ceiling],
            CompressionPace::Adapt => ladder(ceiling),
        };
        let used = vec![(0, 0); ladder.len()];
        Self {
            pace,
            ladder,
            at: 0,
            used,
        }
    }

    /// The level for the next batch of `bytes` chunk bytes, given what the
    /// consumer saw.
    pub fn next_level(&mut self, s: Signals, bytes: u64) -> i32 {
        let uploads_hold_up = !s.last_batch.is_zero() && s.upload_wait * 4 > s.last_batch;
        if uploads_hold_up || s.waited >= STARVED {
            self.at = self.at.saturating_sub(1);
        } else if s.queue_full && self.at + 1 < self.ladder.len() {
            self.at += 1;
        }
        self.used[self.at].0 += 1;
        self.used[self.at].1 += bytes;
        self.ladder[self.at]
    }

    pub fn report(&self) -> PaceReport {
        PaceReport {
            pace: self.pace,
            ceiling: self.ladder[0],
            levels: self
                .ladder
                .iter()
                .zip(&self.used)
                .filter(|(_, u)| u.0 > 0)
                .map(|(&level, &(batches, bytes))| LevelUse {
                    level,
                    batches,
                    bytes,
                })
                .collect(),
        }
    }
}

/// From the repository's level down to storing raw. The steps are the ones
/// that pay on 8 KiB chunks of a dump (`zstd -b -B8192` on pg_dump output,
/// README): 3 -> 1 gives up ~1% of the ratio for ~25% speed, the fast levels
/// trade ratio for speed evenly, and raw costs nothing.
fn ladder(ceiling: i32) -> Vec<i32> {
    let mut steps = vec![ceiling];
    for level in [6, 3, 1, -1, -3, -5, -8] {
        if level < ceiling && ceiling != 0 {
            steps.push(level);
        }
    }
    if ceiling != 0 {
        steps.push(0);
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_ladder_runs_from_the_repository_level_down_to_raw() {
        assert_eq!(ladder(3), vec![3, 1, -1, -3, -5, -8, 0]);
        assert_eq!(ladder(19), vec![19, 6, 3, 1, -1, -3, -5, -8, 0]);
        assert_eq!(ladder(1), vec![1, -1, -3, -5, -8, 0]);
        assert_eq!(ladder(-3), vec![-3, -5, -8, 0]);
        assert_eq!(ladder(0), vec![0], "a raw repository has nothing to adapt");
    }

    #[test]
    fn a_full_queue_steps_down_and_a_starved_consumer_steps_back_up() {
        let mut p = Pacer::new(CompressionPace::Adapt, 3);
        let behind = Signals {
            queue_full: true,
            last_batch: ms(30),
            ..Signals::default()
        };
        let starved = Signals {
            waited: ms(20),
            last_batch: ms(30),
            ..Signals::default()
        };
        let even = Signals {
            last_batch: ms(30),
            ..Signals::default()
        };
        assert_eq!(p.next_level(behind, 10), 1);
        assert_eq!(p.next_level(behind, 10), -1);
        assert_eq!(p.next_level(even, 10), -1, "neither side waits: hold");
        for _ in 0..10 {
            p.next_level(behind, 10);
        }
        assert_eq!(p.next_level(behind, 10), 0, "the floor is raw");
        assert_eq!(p.next_level(starved, 10), -8);
        for _ in 0..10 {
            p.next_level(starved, 10);
        }
        assert_eq!(
            p.next_level(starved, 10),
            3,
            "never above the repository's level"
        );
        let r = p.report();
        assert_eq!(r.ceiling, 3);
        assert_eq!(r.levels.first().map(|l| l.level), Some(3));
        assert_eq!(r.levels.iter().map(|l| l.batches).sum::<u64>(), 26);
        assert_eq!(r.levels.iter().map(|l| l.bytes).sum::<u64>(), 260);
    }

    #[test]
    fn uploads_that_hold_the_consumer_up_ask_for_more_compression() {
        let mut p = Pacer::new(CompressionPace::Adapt, 3);
        let behind = Signals {
            queue_full: true,
            last_batch: ms(40),
            ..Signals::default()
        };
        p.next_level(behind, 1);
        p.next_level(behind, 1);
        let upload_bound = Signals {
            queue_full: true,
            upload_wait: ms(20),
            last_batch: ms(40),
            ..Signals::default()
        };
        assert_eq!(p.next_level(upload_bound, 1), 1);
        assert_eq!(p.next_level(upload_bound, 1), 3);
    }

    #[test]
    fn a_fixed_pace_never_moves() {
        let mut p = Pacer::new(CompressionPace::Fixed, 3);
        let behind = Signals {
            queue_full: true,
            ..Signals::default()
        };
        for _ in 0..5 {
            assert_eq!(p.next_level(behind, 1), 3);
        }
        assert_eq!(
            p.report().levels,
            vec![LevelUse {
                level: 3,
                batches: 5,
                bytes: 5
            }]
        );
    }
}
