"""Command-line interface: parse input, make one library call, render. No business logic."""
