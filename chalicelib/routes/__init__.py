"""HTTP routes: one Blueprint per endpoint group."""
