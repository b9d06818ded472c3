"""The bottom layer: helpers every other part may use and that use none of them (file resolution, Hub reachability)."""
