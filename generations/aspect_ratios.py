"""FLUX.1 Kontext's output sizes per aspect ratio: one fact shared by the app and the simulator.

Plain Python, no Django: the simulator runs without it.
"""

# (width, height), about one megapixel each.
OUTPUT_SIZES: dict[str, tuple[int, int]] = {
    "21:9": (1568, 672),
    "16:9": (1392, 752),
    "4:3": (1184, 880),
    "3:2": (1248, 832),
    "1:1": (1024, 1024),
    "2:3": (832, 1248),
    "3:4": (880, 1184),
    "9:16": (752, 1392),
    "9:21": (672, 1568),
}
