//! A full ticketing server assembled from the booking crates.

pub mod web;
