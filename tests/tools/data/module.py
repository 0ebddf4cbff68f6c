"""Orbit helpers for the tutorial."""


def escape_velocity(mass_kg: float, radius_m: float) -> float:
    """Speed needed to leave a body's gravity well, in metres per second."""
    gravitational_constant = 6.674e-11
    return (2 * gravitational_constant * mass_kg / radius_m) ** 0.5
