## The demo scene: an NPC says the sample line as soon as its session is live; Speak queues
## the line again (lines queue, never cut each other), Interrupt stops it at once.
##
## Every signal is also printed as one line, `lpm-demo {json}`, so a test (or you, in the
## Output panel or the browser console) can read what happened. The daemon's address can be
## given as a user argument, `godot -- --lpm-url=ws://HOST:PORT/v1/perform`, or on the web
## as the page's `?lpm_url=...`; `lpm-portrait=res://...png` registers that portrait as the
## NPC's face. With `--lpm-checks` (web: `?lpm_checks=1`) the demo runs
## the sequence tests/clients/test_godot_web.py reads instead (_run_checks).
extends Control

const PAUSE_S := 3.0  # how long the checks pause the game

@export var line: AudioStreamWAV

var _spoken := false
var _frames_shown := 0
var _verbose := false  # report every frame shown (during the checks)

@onready var npc: LpmBridgeNpc = $Npc
@onready var status: Label = $Status


func _enter_tree() -> void:
	# Before the NPC's _ready (children are ready before their parent): it connects there.
	var url := _argument("url")
	if url != "":
		$Npc.url = url
	var portrait := _argument("portrait")  # a PNG to register as the NPC's own face
	if portrait != "":
		var image := Image.new()
		if image.load_png_from_buffer(FileAccess.get_file_as_bytes(portrait)) == OK:
			$Npc.face_portrait = ImageTexture.create_from_image(image)


func _ready() -> void:
	npc.connected.connect(_on_connected)
	npc.error.connect(_on_error)
	npc.speaking_started.connect(func(id: int) -> void: _report_line("speaking_started", id))
	npc.speaking_ended.connect(_on_speaking_ended)
	npc.speaking_interrupted.connect(func(id: int) -> void: _report_line("speaking_interrupted", id))
	npc.frame.connect(_on_frame)
	$Buttons/Speak.pressed.connect(_speak)
	$Buttons/Interrupt.pressed.connect(npc.interrupt)
	status.text = "connecting to %s ..." % npc.url
	if _argument("checks") != "":
		_spoken = true  # the checks speak instead
		_run_checks()


## The checks: two lines queued at once (the second must follow the first, not cut it),
## the game paused 3 s in the middle of the second, a third line interrupted 1 s in (the
## face must go back to idle at once and keep moving), a rig-only NPC's line (_check_rig),
## then "done". Errors (a daemon still
## loading, say) are reported as they come.
func _run_checks() -> void:
	if not npc.is_node_ready() or npc.blendshape_names.is_empty():
		await npc.connected
	var first := npc.speak(line)
	var second := npc.speak(line)
	_report_line("speak", first)
	_report_line("speak", second)
	while await npc.speaking_started != second:
		pass
	# The game pauses mid-line: voice and face stop together and go on together after.
	await get_tree().create_timer(2.0).timeout
	get_tree().paused = true
	_report("paused", {})
	await get_tree().create_timer(PAUSE_S).timeout  # SceneTree timers run while paused
	get_tree().paused = false
	_report("resumed", {})
	while await npc.speaking_ended != second:
		pass
	var third := npc.speak(line)
	_report_line("speak", third)
	while await npc.speaking_started != third:
		pass
	await get_tree().create_timer(1.0).timeout
	_verbose = true
	npc.interrupt()
	_report_line("interrupt", third)
	await get_tree().create_timer(1.5).timeout
	_verbose = false
	await _check_rig()
	var summary := {}
	summary["frames_shown"] = _frames_shown
	_report("done", summary)

func _speak() -> void:
	_report_line("speak", npc.speak(line))


func _on_connected(info: Dictionary) -> void:
	status.text = "session %s" % info.get("session_id", "")
	var config: Dictionary = info.get("config", {})
	var fields := {}
	fields["session_id"] = info.get("session_id", "")
	fields["avatar_id"] = config.get("avatar_id", "")
	_report("connected", fields)
	if not _spoken:
		_spoken = true
		_speak()


func _on_speaking_ended(line_id: int) -> void:
	_report_line("speaking_ended", line_id)
	_report("stats", npc.stats.duplicate())


func _on_error(code: int, message: String) -> void:
	status.text = "error %d: %s" % [code, message]
	_report("error", {"status_code": code, "message": message})


func _on_frame(
	pts: int, weights: PackedFloat32Array, _head: PackedFloat32Array, viseme: int
) -> void:
	_frames_shown += 1
	if _verbose or _frames_shown % 25 == 0:
		var jaw := npc.blendshape_names.find("jawOpen")
		_report(
			"frames",
			{
				"shown": _frames_shown,
				"pts": pts,
				"viseme": viseme,
				"jaw_open": weights[jaw] if jaw >= 0 and jaw < weights.size() else -1.0,
				"texture": npc.texture != null,
				"speaking": npc.current_frame.speaking,
			}
		)


## A rig-only NPC (no picture target) asks for FRAME_ENCODING_NONE and drives a mesh's
## blend shapes (named through a rig mapping) and a head node; reported as "rig".
func _check_rig() -> void:
	var face := MeshInstance3D.new()
	face.mesh = _rig_mesh(PackedStringArray(["mouth_open", "eyeBlinkLeft"]))
	var head := Node3D.new()
	head.add_child(face)
	add_child(head)
	var rig_npc := LpmBridgeNpc.new()
	rig_npc.url = npc.url
	rig_npc.rig = face
	rig_npc.head = head
	rig_npc.rig_mapping = LpmBridgeRigMapping.new()
	rig_npc.rig_mapping.shape_names = {"jawOpen": "mouth_open"}
	add_child(rig_npc)
	var info: Dictionary = await rig_npc.connected
	rig_npc.speak(line)
	var mouth := face.find_blend_shape_by_name("mouth_open")
	var widest := 0.0
	var head_turned := false
	while rig_npc.is_speaking():
		await get_tree().process_frame
		widest = maxf(widest, face.get_blend_shape_value(mouth))
		head_turned = head_turned or head.rotation != Vector3.ZERO
	var fields := {}
	fields["encoding"] = info.get("config", {}).get("encoding", "")
	fields["mouth_open_max"] = widest
	fields["head_turned"] = head_turned
	fields["texture"] = rig_npc.texture != null
	_report("rig", fields)
	rig_npc.close()


## A one-triangle mesh with the given blend shapes (each moves one vertex).
static func _rig_mesh(shapes: PackedStringArray) -> ArrayMesh:
	var base := PackedVector3Array([Vector3.ZERO, Vector3.RIGHT, Vector3.UP])
	var arrays := []
	arrays.resize(Mesh.ARRAY_MAX)
	arrays[Mesh.ARRAY_VERTEX] = base
	var mesh := ArrayMesh.new()
	var blend_arrays := []
	for shape in shapes:
		mesh.add_blend_shape(shape)
		var moved := []
		moved.resize(Mesh.ARRAY_MAX)
		moved[Mesh.ARRAY_VERTEX] = PackedVector3Array([Vector3.ZERO, Vector3.RIGHT, Vector3(0, 2, 0)])
		blend_arrays.append(moved)
	mesh.add_surface_from_arrays(Mesh.PRIMITIVE_TRIANGLES, arrays, blend_arrays)
	return mesh


## A line's event: its id and how many lines are pending.
func _report_line(kind: String, line_id: int) -> void:
	var fields := {}
	fields["line"] = line_id
	fields["pending"] = npc.pending_lines()
	_report(kind, fields)


func _report(kind: String, fields: Dictionary) -> void:
	fields["event"] = kind
	fields["t_ms"] = Time.get_ticks_msec()
	print("lpm-demo ", JSON.stringify(fields))


## A setting from the command line (`-- --lpm-NAME=VALUE`, or `--lpm-NAME` for "1") or, on
## the web, the page's query (`?lpm_NAME=VALUE`); "" if not given.
func _argument(setting: String) -> String:
	for argument in OS.get_cmdline_user_args():
		if argument == "--lpm-" + setting:
			return "1"
		if argument.begins_with("--lpm-%s=" % setting):
			return argument.trim_prefix("--lpm-%s=" % setting)
	if OS.has_feature("web"):
		var query := "new URLSearchParams(location.search).get('lpm_%s')" % setting
		var found = JavaScriptBridge.eval(query)
		if found is String:
			return found
	return ""
