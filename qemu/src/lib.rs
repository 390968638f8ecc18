//! QEMU machines launched with `std::process`, their private networks, the control channel,
//! faults and the scenario runner. Arrives with the test-harness work; the image engine
//! (`imager`) comes first, so this crate holds nothing yet.
