//! A WinRM client for interactive WinRS shells.
