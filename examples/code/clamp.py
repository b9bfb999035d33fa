def clamp(x, lo, hi):
    """x limited to [lo, hi]."""
    if x < lo:
        return lo
    elif x > hi:
        return hi
    return x


def clamp_all(xs, lo=0, hi=1):
    return [clamp(x, lo, hi) for x in xs if x is not None]
