"""Write ``rainfall.png``, the small bar chart that 02-chat.ipynb shows to a vision model.

Run ``python notebooks/data/make_chart.py`` (needs matplotlib) to draw it again.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri"]
RAIN_MM = [2, 9, 4, 12, 1]


def main() -> None:
    path = Path(__file__).with_name("rainfall.png")
    fig, ax = plt.subplots(figsize=(4, 2.4), dpi=80)
    ax.bar(DAYS, RAIN_MM, color="steelblue")
    ax.set_title("Rainfall in Lisbon (mm)")
    ax.set_ylabel("mm")
    fig.tight_layout()
    fig.savefig(path, format="png", metadata={"Software": None})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
