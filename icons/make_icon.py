#!/usr/bin/env python3
"""Draw the Cairn app icon source (icons/icon-source.png, 1024x1024 RGBA).

The icon is a cairn -- four rounded stones of decreasing width balanced on
each other -- in slate/teal tones on a dark rounded-square tile.

Only Pillow is required:  pip install pillow
Usage:                    python3 icons/make_icon.py [output.png]
                          python3 icons/make_icon.py --clean FILE.png ...

Everything is drawn at SS x the final resolution and downsampled with a
Lanczos filter, which gives clean anti-aliased edges.
"""
import math
import os
import sys

from PIL import Image, ImageChops, ImageDraw, ImageFilter

SIZE = 1024          # final size
SS = 2               # supersampling factor
W = SIZE * SS


def s(v):
    """Scale a coordinate given in 1024-space to the supersampled canvas."""
    return int(round(v * SS))


def hex_rgb(h):
    h = h.lstrip("#")
    return tuple(int(h[i:i + 2], 16) for i in (0, 2, 4))


def vertical_gradient(size, top, bottom):
    """RGBA image of `size` filled with a top->bottom gradient."""
    w, h = size
    grad = Image.linear_gradient("L").resize((w, h))
    a = Image.new("RGBA", size, top + (255,))
    b = Image.new("RGBA", size, bottom + (255,))
    return Image.composite(b, a, grad)


def rounded_rect_mask(box, radius):
    m = Image.new("L", (W, W), 0)
    ImageDraw.Draw(m).rounded_rectangle(box, radius=radius, fill=255)
    return m


def superellipse(cx, cy, a, b, n=2.6, tilt_deg=0.0, bulge=0.0, steps=720):
    """Points of a rotated superellipse (a pebble-like outline).

    `bulge` > 0 makes the top flatter and the bottom rounder (or vice versa
    when negative), which reads as a natural stone.
    """
    t = math.radians(tilt_deg)
    ct, st = math.cos(t), math.sin(t)
    pts = []
    for i in range(steps):
        th = 2 * math.pi * i / steps
        c, sn = math.cos(th), math.sin(th)
        x = a * math.copysign(abs(c) ** (2 / n), c)
        y = b * math.copysign(abs(sn) ** (2 / n), sn)
        # asymmetric flattening: y>0 is the bottom half
        y *= 1 + bulge * (1 if y > 0 else -1)
        pts.append((cx + x * ct - y * st, cy + x * st + y * ct))
    return pts


def poly_mask(pts):
    m = Image.new("L", (W, W), 0)
    ImageDraw.Draw(m).polygon(pts, fill=255)
    return m


def scale_alpha(mask, factor):
    return mask.point(lambda v: int(v * factor))


def draw_stone(canvas, spec):
    cx, cy = s(spec["cx"]), s(spec["cy"])
    a, b = s(spec["w"] / 2), s(spec["h"] / 2)
    pts = superellipse(cx, cy, a, b, n=spec.get("n", 2.6),
                       tilt_deg=spec.get("tilt", 0.0),
                       bulge=spec.get("bulge", 0.0))
    mask = poly_mask(pts)

    # 1. contact shadow cast on whatever lies below this stone
    sh = poly_mask(superellipse(cx, cy + s(10), a * 0.96, b * 0.9,
                                n=spec.get("n", 2.6),
                                tilt_deg=spec.get("tilt", 0.0)))
    sh = sh.filter(ImageFilter.GaussianBlur(s(9)))
    shadow = Image.new("RGBA", (W, W), (5, 10, 14, 255))
    canvas.paste(shadow, (0, 0), scale_alpha(sh, 0.75))

    # 2. body: vertical gradient, light on top, darker below
    top, bottom = hex_rgb(spec["top"]), hex_rgb(spec["bottom"])
    y0, y1 = cy - b - s(4), cy + b + s(4)
    body = Image.new("RGBA", (W, W), bottom + (255,))
    body.paste(vertical_gradient((W, y1 - y0), top, bottom), (0, y0))

    # 3. soft highlight towards the upper-left
    hl = Image.new("L", (W, W), 0)
    hx, hy = cx - a * 0.28, cy - b * 0.42
    ImageDraw.Draw(hl).ellipse((hx - a * 0.55, hy - b * 0.38,
                                hx + a * 0.55, hy + b * 0.38), fill=255)
    hl = hl.filter(ImageFilter.GaussianBlur(s(spec["h"] * 0.16)))
    hl = ImageChops.multiply(hl, mask)
    body.paste(Image.new("RGBA", (W, W), (255, 255, 255, 255)), (0, 0),
               scale_alpha(hl, spec.get("shine", 0.30)))

    # 4. rim shading: darken a soft band along the lower edge
    inner = mask.filter(ImageFilter.GaussianBlur(s(14)))
    inner = inner.point(lambda v: 255 if v > 200 else int(v * 255 / 200))
    inner = ImageChops.offset(inner, 0, -s(6))
    rim = ImageChops.subtract(mask, inner)
    body.paste(Image.new("RGBA", (W, W), (8, 14, 20, 255)), (0, 0),
               scale_alpha(rim, 0.55))

    # 5. thin crisp top edge light
    edge = ImageChops.subtract(mask, ImageChops.offset(mask, 0, s(4)))
    body.paste(Image.new("RGBA", (W, W), (255, 255, 255, 255)), (0, 0),
               scale_alpha(edge.filter(ImageFilter.GaussianBlur(s(1.2))), 0.35))

    canvas.paste(body, (0, 0), mask)


def make_icon():
    # --- background tile ------------------------------------------------
    margin = 40
    tile_box = (s(margin), s(margin), s(SIZE - margin) - 1, s(SIZE - margin) - 1)
    radius = s((SIZE - 2 * margin) * 0.18)
    tile_mask = rounded_rect_mask(tile_box, radius)

    tile = vertical_gradient((W, W), hex_rgb("#22323d"), hex_rgb("#0c1419"))
    # subtle teal glow behind the cairn
    glow = Image.new("L", (W, W), 0)
    ImageDraw.Draw(glow).ellipse((s(212), s(180), s(812), s(780)), fill=255)
    glow = glow.filter(ImageFilter.GaussianBlur(s(120)))
    tile.paste(Image.new("RGBA", (W, W), hex_rgb("#2f6f73") + (255,)), (0, 0),
               scale_alpha(glow, 0.45))

    canvas = tile.copy()

    # ground shadow under the bottom stone
    ground = Image.new("L", (W, W), 0)
    ImageDraw.Draw(ground).ellipse((s(200), s(795), s(824), s(858)), fill=255)
    ground = ground.filter(ImageFilter.GaussianBlur(s(16)))
    canvas.paste(Image.new("RGBA", (W, W), (3, 6, 9, 255)), (0, 0),
                 scale_alpha(ground, 0.7))

    # --- stones, bottom to top --------------------------------------------
    stones = [
        dict(cx=512, cy=728, w=600, h=176, tilt=-1.5, bulge=0.06,
             top="#6a8597", bottom="#2b3d49", shine=0.22),
        dict(cx=525, cy=572, w=462, h=156, tilt=2.5, bulge=0.05,
             top="#6399a1", bottom="#2a4b54", shine=0.26),
        dict(cx=502, cy=434, w=340, h=138, tilt=-3.0, bulge=0.05,
             top="#6cbcb6", bottom="#2c6463", shine=0.30),
        dict(cx=517, cy=312, w=222, h=122, tilt=3.5, bulge=0.04, n=2.3,
             top="#9cead8", bottom="#3c9186", shine=0.36),
    ]
    for spec in stones:
        draw_stone(canvas, spec)

    # subtle inner border on the tile (light at top)
    border = ImageChops.subtract(tile_mask, ImageChops.offset(tile_mask, 0, s(3)))
    canvas.paste(Image.new("RGBA", (W, W), (255, 255, 255, 255)), (0, 0),
                 scale_alpha(border, 0.18))

    # Use the tile mask as the alpha channel so that the RGB of the
    # semi-transparent edge pixels stays the tile colour (no dark/odd fringe).
    # Colour and alpha are downsampled separately (the canvas colour is
    # defined everywhere), which avoids premultiplication artefacts.
    out = canvas.convert("RGB").resize((SIZE, SIZE), Image.LANCZOS)
    alpha = tile_mask.resize((SIZE, SIZE), Image.LANCZOS)
    # drop near-invisible ringing outside the tile
    out.putalpha(alpha.point(lambda v: 0 if v < 3 else v))
    return out


def clean(paths):
    """Zero out near-invisible (alpha < 3) pixels left by other resamplers.

    `tauri icon` resizes in premultiplied space and can leave alpha=1..2
    pixels with odd colours just outside the tile's rounded corners; some
    viewers show them as specks.  Images stay 8-bit RGBA.
    """
    for p in paths:
        im = Image.open(p).convert("RGBA")
        a = im.getchannel("A")
        keep = a.point(lambda v: 255 if v >= 3 else 0)
        out = Image.composite(im, Image.new("RGBA", im.size, (0, 0, 0, 0)), keep)
        out.save(p, optimize=True)
        print(f"cleaned {p} {out.size} {out.mode}")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--clean":
        clean(sys.argv[2:])
        return
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "icon-source.png")
    icon = make_icon()
    assert icon.mode == "RGBA" and icon.size == (SIZE, SIZE)
    icon.save(out, optimize=True)
    print(f"wrote {out} {icon.size} {icon.mode}")


if __name__ == "__main__":
    main()
