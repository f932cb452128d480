//! The ticketing server's binary.

fn main() {}
