## LpmBridgeRigMapping: how the ARKit-52 weights drive one mesh's blend shapes.
##
## Frames carry ARKit-named weights (SessionStarted.blendshape_names: "jawOpen",
## "mouthSmileLeft"...). A rig whose shapes are named otherwise, or that over- or
## under-shoots, maps them here: a name per ARKit name, a multiplier and an offset, and a
## one-pole smoothing that takes the edge off frame-to-frame steps. Save it as a .tres and
## share it between NPCs with the same rig.
class_name LpmBridgeRigMapping
extends Resource

## ARKit name -> the mesh's blend shape name. Names left out map to themselves.
@export var shape_names: Dictionary = {}
## ARKit name -> multiplier (default 1.0).
@export var multipliers: Dictionary = {}
## ARKit name -> offset added after the multiplier (default 0.0).
@export var offsets: Dictionary = {}
## Multiplier for every shape not in `multipliers`.
@export var global_multiplier := 1.0
## 0: show each frame's weights as they are; towards 1: smoother and later (a one-pole
## filter per shape, applied each time a new frame is shown).
@export_range(0.0, 0.95) var smoothing := 0.0
## ARKit names to leave alone (e.g. the eyes, if the game's own eye animation drives them).
@export var ignored: PackedStringArray = PackedStringArray()


## The mesh's blend shape name for an ARKit name.
func shape_name(arkit_name: String) -> String:
	return str(shape_names.get(arkit_name, arkit_name))


## The weight to set for `arkit_name` given the frame's `weight` (before smoothing).
func weight(arkit_name: String, value: float) -> float:
	var gain := float(multipliers.get(arkit_name, global_multiplier))
	return clampf(value * gain + float(offsets.get(arkit_name, 0.0)), 0.0, 1.0)
