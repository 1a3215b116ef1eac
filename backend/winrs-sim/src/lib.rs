//! A WinRS server for Linux.
