"""Draw the book's logo and favicon: a residual block, its branch F(x) and the identity skip.

python -m tools.draw_logo   # writes book/_static/logo.svg and favicon.png
"""

import matplotlib

matplotlib.use("Agg")
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.patches import Circle, FancyBboxPatch

plt.rcParams["svg.hashsalt"] = "resnet-edu"
plt.rcParams["svg.fonttype"] = "none"

STATIC = Path(__file__).resolve().parent.parent / "book" / "_static"
BLUE, ORANGE, INK = "#0072B2", "#E69F00", "#222222"


def draw(ax, lw):
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10)
    ax.set_aspect("equal")
    ax.axis("off")
    # trunk: input (top) -> branch box -> (+) -> output (bottom)
    ax.plot([4, 4], [9.6, 7.9], color=INK, lw=lw, solid_capstyle="round")
    ax.add_patch(
        FancyBboxPatch(
            (1.7, 4.6), 4.6, 3.0, boxstyle="round,pad=0.05,rounding_size=0.8", fc=BLUE, ec="none"
        )
    )
    ax.plot([4, 4], [4.6, 3.1], color=INK, lw=lw, solid_capstyle="round")
    ax.add_patch(Circle((4, 2.3), 0.85, fc="white", ec=INK, lw=lw))
    ax.plot([3.45, 4.55], [2.3, 2.3], color=INK, lw=lw * 0.8, solid_capstyle="round")
    ax.plot([4, 4], [1.75, 2.85], color=INK, lw=lw * 0.8, solid_capstyle="round")
    ax.plot([4, 4], [1.45, 0.3], color=INK, lw=lw, solid_capstyle="round")
    # the identity skip: from the input round the box into (+)
    ax.plot(
        [4, 8.3, 8.3, 4.85],
        [8.9, 8.9, 2.3, 2.3],
        color=ORANGE,
        lw=lw * 1.2,
        solid_capstyle="round",
        solid_joinstyle="round",
    )


for name, size, lw in (("logo.svg", 2.0, 7), ("favicon.png", 0.64, 3.2)):
    fig = plt.figure(figsize=(size, size), dpi=100)
    ax = fig.add_axes([0, 0, 1, 1])
    draw(ax, lw)
    kw = {"metadata": {"Date": None}} if name.endswith(".svg") else {"dpi": 100}
    fig.savefig(STATIC / name, transparent=True, **kw)
    plt.close(fig)
