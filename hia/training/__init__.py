"""Fitting models from rated data: the reference, the calibrated heuristic, preference export."""
