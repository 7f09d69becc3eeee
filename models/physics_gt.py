"""``physics-gt``: the analytic ground truth of physics suite items, rendered.

``--model physics-gt`` renders, for every item whose ``meta`` carries scenario parameters
(``physics-mini``, ``physics``, or any suite built with :func:`vidbench.scenarios.make_item`),
the closed-form scene at the item's frame count, size and fps. It is the upper-bound row of
every physics leaderboard: ``physics_scenario`` scores it near 1 by construction (up to
antialiasing and compression), so a model's gap to it is its physics error.

Options (``physics-gt?key=value``): ``fps`` / ``num_frames`` / ``size`` override the item's
shape (e.g. to check that scores do not move with the shape); ``slowmo`` (float, default 1)
plays the scene at that speed factor (a deliberately wrong but time-scale-consistent control
row: 0.5 is slow motion).
"""

from __future__ import annotations

from typing import Any, ClassVar

from vidbench.adapters import Adapter, Generated
from vidbench.errors import UserError
from vidbench.scenarios import physics_params, render
from vidbench.suites import SuiteItem


class PhysicsGroundTruth(Adapter):
    """Render the analytic ground truth of a physics suite item (see module docstring)."""

    scheme: ClassVar[str] = "physics-gt"

    def __init__(self, target: str = "", **options: Any) -> None:
        super().__init__(target, **options)
        try:
            self.fps = float(options["fps"]) if "fps" in options else None
            self.num_frames = int(options["num_frames"]) if "num_frames" in options else None
            self.size = int(options["size"]) if "size" in options else None
            self.slowmo = float(options.get("slowmo", 1.0))
        except ValueError as e:
            raise UserError(f"physics-gt: bad option value ({e})") from None
        if self.slowmo <= 0 or (self.fps is not None and self.fps <= 0):
            raise UserError("physics-gt: fps and slowmo must be positive")
        unknown = set(options) - {"fps", "num_frames", "size", "slowmo"}
        if unknown:
            raise UserError(f"physics-gt: unknown option(s) {', '.join(sorted(unknown))}; "
                            "known: fps, num_frames, size, slowmo")

    @property
    def revision(self) -> str | None:
        from vidbench.scenarios.params import PARAMS_VERSION

        return f"scenarios-v{PARAMS_VERSION}"

    def generate_one(self, item: SuiteItem) -> Generated:
        params = physics_params(item.meta)
        if params is None:
            raise UserError(f"physics-gt: item {item.item!r} has no physics scenario in its "
                            "meta (use a physics suite such as physics-mini)")
        fps = self.fps or float(item.fps)
        n = self.num_frames or int(item.num_frames)
        hw = (self.size, self.size) if self.size else (int(item.height), int(item.width))
        # slow motion x s: frame k shows scene time s * k / fps
        frames = render(params, n, hw, fps / self.slowmo)
        return Generated(frames=frames, fps=fps,
                         params={"num_frames": n, "height": hw[0], "width": hw[1], "fps": fps,
                                 "slowmo": self.slowmo})
