//! `vedette demo`: a realistic synthetic sample of national telemetry, and the ground
//! truth it was made from, so tests measure what the pipeline finds instead of assuming it.

mod dns;
mod generate;
mod rng;

pub use generate::{generate, Scale, PERIOD_FROM, PERIOD_TO};
