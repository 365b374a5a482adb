//! ionChannel's lab: the testbed that brings up an isolated headless Wayland
//! session (private bus, PipeWire, headless compositor, the real
//! xdg-desktop-portal frontend, ionChannel), the probe client that shows a
//! known picture and records the input it receives, and the scenarios and
//! benchmarks built on both.

pub mod bench;
pub mod chromium;
pub mod client;
pub mod consumer;
pub mod demo;
pub mod deskflow;
pub mod endurance;
pub mod expect;
pub mod fuzz;
pub mod obs;
pub mod ocr;
pub mod probe;
pub mod signals;
pub mod testbed;
pub mod testing_rootfs;
pub mod virtual_input;
pub mod window;
