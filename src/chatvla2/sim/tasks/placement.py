"""The toy-placement task: put the toy to the left or right of the cup or the plate.

  instruction: "put the toy to the {left|right} of the {cup|plate}"
  reasoning:   "the toy is {ordinal} from the left; the {ref} is {ordinal} from the left;
                put the toy {left|right} of the {ref}"
Left and right are as the front camera sees them (world +y is left). Splits (sim/splits.py): the
reference object's distance from the robot has a band reserved for evaluation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chatvla2.sim import appearance, splits
from chatvla2.sim.scenes import HOVER_M, ORDINALS, REACH_M, ROBOT_BASE_POS_M
from chatvla2.sim.tasks import Task
from chatvla2.sim.textures import png_bytes, text_image

TOY_HALF_M = 0.02
CUP_RADIUS_M, CUP_HALF_HEIGHT_M = 0.035, 0.045
PLATE_RADIUS_M, PLATE_HALF_HEIGHT_M = 0.05, 0.008
PLACE_OFFSET_M = 0.12  # the expert puts the toy this far beside the reference
REFERENCES = ("cup", "plate")


@dataclass(frozen=True)
class PlacementScene:
    seed: int
    split: str
    relation: str  # "left" | "right"
    reference: str  # "cup" | "plate"
    positions_m: dict  # object name -> (x, y) on the table
    appearance: appearance.Appearance = appearance.DEFAULT  # open-world looks: math only so far

    task = "placement"

    @property
    def instruction(self) -> str:
        return f"put the toy to the {self.relation} of the {self.reference}"

    def ordinal(self, name: str) -> str:
        by_left = sorted(self.positions_m, key=lambda n: -self.positions_m[n][1])
        return ORDINALS[by_left.index(name)]

    @property
    def reasoning(self) -> str:
        return (f"the toy is {self.ordinal('toy')} from the left; the {self.reference} is "
                f"{self.ordinal(self.reference)} from the left; put the toy {self.relation} of the "
                f"{self.reference}")

    @property
    def target_xy_m(self) -> np.ndarray:
        x, y = self.positions_m[self.reference]
        return np.array([x, y + (PLACE_OFFSET_M if self.relation == "left" else -PLACE_OFFSET_M)])


def sample_scene(seed: int, split: str) -> PlacementScene:
    if split == "cardswap":
        raise ValueError("the card-swap split exists only for the math task")
    rng = np.random.default_rng([seed, 2])
    x_low, x_high = splits.placement_x_range_m(split)
    relation = str(rng.choice(["left", "right"]))
    reference = str(rng.choice(REFERENCES))
    other = "plate" if reference == "cup" else "cup"
    for _ in range(1000):
        ref_xy = np.array([rng.uniform(x_low, x_high), rng.uniform(-0.12, 0.12)])
        target = ref_xy + [0.0, PLACE_OFFSET_M if relation == "left" else -PLACE_OFFSET_M]
        toy = np.array([rng.uniform(0.36, 0.56), rng.uniform(-0.22, 0.22)])
        other_xy = np.array([rng.uniform(0.36, 0.56), rng.uniform(-0.22, 0.22)])
        points = [ref_xy, toy, other_xy]
        apart = all(np.linalg.norm(p - q) > 0.11 for i, p in enumerate(points) for q in points[i + 1:])
        target_free = min(np.linalg.norm(target - p) for p in (toy, other_xy)) > 0.1
        reachable = all(np.linalg.norm(p - ROBOT_BASE_POS_M[:2]) < REACH_M for p in points + [target])
        if apart and target_free and reachable and not _in_region(toy, ref_xy, relation):
            positions = {"toy": tuple(toy), reference: tuple(ref_xy), other: tuple(other_xy)}
            return PlacementScene(seed=seed, split=split, relation=relation, reference=reference,
                                  positions_m=positions)
    raise RuntimeError(f"could not lay out a placement scene for seed {seed}")


def _in_region(toy_xy, ref_xy, relation: str) -> bool:
    """The named region: 5..22 cm beside the reference on the named side, within 9 cm in depth."""
    side = toy_xy[1] - ref_xy[1] if relation == "left" else ref_xy[1] - toy_xy[1]
    return 0.05 <= side <= 0.22 and abs(toy_xy[0] - ref_xy[0]) <= 0.09


def placement_region_holds(scene: PlacementScene, toy_xy) -> bool:
    return _in_region(np.asarray(toy_xy), np.asarray(scene.positions_m[scene.reference]), scene.relation)


def textures(scene: PlacementScene) -> dict[str, bytes]:
    return {"board.png": png_bytes(text_image("", 512, 256))}


def bodies(scene: PlacementScene) -> tuple[str, str]:
    (tx, ty), colors = scene.positions_m["toy"], {"cup": "0.2 0.35 0.85 1", "plate": "0.2 0.7 0.3 1"}
    objects = [f'<body name="toy" pos="{tx:.5f} {ty:.5f} {TOY_HALF_M + 0.001}"><freejoint/>'
               f'<geom type="box" size="{TOY_HALF_M} {TOY_HALF_M} {TOY_HALF_M}" rgba="0.9 0.15 0.1 1" '
               'mass="0.05" friction="1.5 0.05 0.001" condim="4"/></body>']
    for name, (radius, half_h) in (("cup", (CUP_RADIUS_M, CUP_HALF_HEIGHT_M)),
                                   ("plate", (PLATE_RADIUS_M, PLATE_HALF_HEIGHT_M))):
        x, y = scene.positions_m[name]
        objects.append(f'<body name="{name}" pos="{x:.5f} {y:.5f} {half_h + 0.001}"><freejoint/>'
                       f'<geom type="cylinder" size="{radius} {half_h}" rgba="{colors[name]}" mass="0.2"/>'
                       '</body>')
    return "", "\n".join(objects)


def object_names(scene: PlacementScene) -> list[str]:
    return ["toy", *REFERENCES]


def outcome(env) -> tuple[bool, str]:
    toy = env.body_pos("toy")
    if toy[2] > 0.06:
        return False, "toy not put down"
    gripping = env.qpos()[7] < 2 * TOY_HALF_M + 0.01
    if gripping and np.linalg.norm(env.data.site("tcp").xpos - toy) < 0.03:
        return False, "toy still in the gripper"
    if np.linalg.norm(toy[:2] - env.initial_body_pos["toy"][:2]) < 0.02:
        return False, "toy not moved"
    if placement_region_holds(env.scene, toy[:2]):
        return True, "toy in region"
    return False, "toy outside the named region"


def expert_waypoints(env, open_m: float, closed_m: float) -> list:
    """Grasp the toy from above, carry it beside the reference, put it down and let go."""
    toy = env.body_pos("toy")
    grasp = toy + [0.0, 0.0, 0.004]
    place = np.append(env.scene.target_xy_m, grasp[2] + 0.01)
    carry_z = [0.0, 0.0, HOVER_M + 0.04]
    return [(grasp + carry_z, open_m, 20), (grasp, open_m, 9), (grasp, closed_m, 6),
            (grasp + carry_z, closed_m, 10), (place + carry_z, closed_m, 16), (place, closed_m, 9),
            (place, open_m, 5), (place + carry_z, open_m, 9)]


def questions(scene: PlacementScene) -> list[tuple[str, str]]:
    pairs = [(f"where is the {name}?", f"the {name} is {scene.ordinal(name)} from the left")
             for name in ("toy", *REFERENCES)]
    for ref in REFERENCES:
        side = "left" if scene.positions_m["toy"][1] > scene.positions_m[ref][1] else "right"
        pairs.append((f"is the toy left or right of the {ref}?", side))
    return pairs


TASK = Task(
    name="placement", summary="put the toy to the named side of the cup or the plate",
    splits=("train", "heldout"), eval_splits=("heldout",),
    instruction_words=("put the toy", "place", "toy"),
    sample_scene=sample_scene, textures=textures, bodies=bodies, object_names=object_names,
    outcome=outcome, expert_waypoints=expert_waypoints, questions=questions)
