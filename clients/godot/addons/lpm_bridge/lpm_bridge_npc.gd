## LpmBridgeNpc: a talking NPC. speak() a line; its face follows the voice you hear.
##
## Add one node, point it at what shows the face (a TextureRect, a MeshInstance3D whose
## material shows the face texture, and/or a MeshInstance3D with ARKit-named blend shapes),
## and call speak(load("res://line.wav")). It owns three helpers, made in _ready:
## an LpmBridgeClient (the session, reconnecting on its own), an LpmBridgeVoice (the
## streamed voice and the audio clock) and an LpmBridgeFrameBuffer (frames as JPEG bytes).
##
## Sync (docs/protocol.md, "Playing in sync"): the audio you hear is the clock. A line's
## audio is sent at once; its audio starts once its first frame is here plus
## start_buffer_ms, and the frame shown is the newest whose pts is at or before the heard
## position (UTTERANCE_START + samples heard into the line). Between lines the newest idle
## frame is shown as it comes.
##
## Lines queue: a second speak() plays right after the first. interrupt() stops at once:
## the voice and the line's frames are dropped and the face is idle again.
## A rig-only NPC (no texture target) asks for FRAME_ENCODING_NONE: no pictures rendered,
## sent or decoded. Failures are loud (`error`); the session reconnects by itself.
class_name LpmBridgeNpc
extends Node

## The session is live (again, after a reconnect): SessionStarted as a Dictionary.
signal connected(info: Dictionary)
## Line `line_id` (from speak()) starts to be heard.
signal speaking_started(line_id: int)
## Line `line_id` has been heard to its end.
signal speaking_ended(line_id: int)
## Line `line_id` will not be heard to its end (interrupt(), or queued behind one that was).
signal speaking_interrupted(line_id: int)
## A failure. status: gRPC status code (3 INVALID_ARGUMENT, 5 NOT_FOUND, 14 UNAVAILABLE...).
signal error(status: int, message: String)
## A frame is shown: its pts (session samples), ARKit-52 weights (blendshape_names order),
## head yaw/pitch/roll in radians and viseme index (viseme_names). Drive your own rig here.
signal frame(
	pts: int, blendshapes: PackedFloat32Array, head_rotation: PackedFloat32Array, viseme: int
)

enum Encoding { AUTO, JPEG, NONE }

const STATUS_INVALID_ARGUMENT := 3
const STATUS_DEADLINE_EXCEEDED := 4
const CHUNK_S := 0.1  # audio is sent in chunks of this many seconds

## The gateway's Perform endpoint (lpm-bridge serve --ws-port 50052).
@export var url := "ws://127.0.0.1:50052/v1/perform"
## Sample rate of the dialogue (the session's sample_rate_hz): every clip must have it.
@export var sample_rate_hz := 22050
## Face size in pixels: 256 or 512.
@export var size := 256
## Frames per second: 25, 30 or 60.
@export var fps := 25
## AUTO: JPEG pictures when a texture target is set, else NONE (motion only).
@export var encoding := Encoding.AUTO
## Ask for the ARKit-52 weights and head rotation (needed by `rig`, `head`, `frame`).
@export var blendshapes := true
## This NPC's own portrait, registered with the daemon at level load; empty: the default face.
@export var face_portrait: Texture2D
@export_group("Targets")
## A 2D face: its texture becomes the face.
@export var texture_rect: TextureRect
## A 3D face: its material_override becomes an unshaded material showing the face.
@export var face_mesh: MeshInstance3D
## A 3D rig with ARKit-named blend shapes (or named through rig_mapping).
@export var rig: MeshInstance3D
@export var rig_mapping: LpmBridgeRigMapping
## A node turned by the head rotation (rotation = (-pitch, yaw, roll) for a face looking +Z).
@export var head: Node3D
@export_group("Timing")
## A line's audio starts once its first frame is here plus this (a busy server then delays
## the line a little instead of letting the face lag the voice).
@export var start_buffer_ms := 150
## A line whose first frame has not come this long after the voice fell silent plays
## without the face (error DEADLINE_EXCEEDED).
@export var max_frame_wait_ms := 3000
@export var audio_bus := &"Master"

## The face picture (also usable elsewhere: a Sprite3D, a UI...). Null until a first frame.
var texture: ImageTexture
## The frame on screen now (null before the first); read it, do not keep it.
var current_frame: LpmBridgeFrame
## How well the face kept up with the voice: speech frames shown, display frames on which
## the frame due had not arrived (the face held an older one), and the largest gap between
## the heard position and the frame shown, in ms (a frame period or less when on time).
## voice_underruns: times the voice ran dry while a line was heard (a starved game loop).
var stats := {
	"speech_frames_shown": 0, "stale_display_frames": 0, "max_lag_ms": 0.0, "voice_underruns": 0
}
## SessionStarted.blendshape_names and viseme_names of the live session.
var blendshape_names: PackedStringArray = PackedStringArray()
var viseme_names: PackedStringArray = PackedStringArray()

var _client: LpmBridgeClient
var _voice: LpmBridgeVoice
var _frames := LpmBridgeFrameBuffer.new()
var _lines: Array[Line] = []  # spoken and not yet heard to the end, in order
var _latest_idle: LpmBridgeFrame  # newest idle frame not shown yet
var _next_line_id := 1
var _await_interrupted := false  # events until INTERRUPTED belong to dropped lines
var _shown_index := -1
var _shown_pts := -1
var _skips_seen := 0  # the voice's underrun count last looked at
var _smoothed: Dictionary = {}  # ARKit name -> last weight set (rig_mapping.smoothing)
var _shape_index: Dictionary = {}  # mesh blend shape name -> index (-1: missing)


## One line of dialogue on its way through the daemon and the voice.
class Line:
	var id := 0
	var pcm := PackedByteArray()
	var samples := 0
	var wait_from_ms := 0  # when the listener started waiting for it (see _start_ready_line)
	var utterance_start := -1  # session pts of UTTERANCE_START; -1 until it comes
	var first_frame_ms := -1  # when its first speech frame was here
	var queued_at := -1  # where its audio starts in the voice's stream; -1 until enqueued
	var heard := false
	var faceless := false  # its session was lost: it plays without a face

	func _init(line_id: int, line_pcm: PackedByteArray) -> void:
		id = line_id
		pcm = line_pcm
		samples = line_pcm.size() / 2
		wait_from_ms = Time.get_ticks_msec()


func _ready() -> void:
	_voice = LpmBridgeVoice.new()
	_voice.name = "Voice"
	_voice.bus = audio_bus
	add_child(_voice, false, Node.INTERNAL_MODE_FRONT)
	_voice.setup(sample_rate_hz)
	_client = LpmBridgeClient.new()
	_client.name = "Client"
	_client.url = url
	add_child(_client, false, Node.INTERNAL_MODE_FRONT)
	_client.started.connect(_on_started)
	_client.frame_received.connect(_on_frame)
	_client.event_received.connect(_on_event)
	_client.error.connect(func(status: int, message: String) -> void: error.emit(status, message))
	_client.session_lost.connect(_on_session_lost)
	var config := session_config()
	if face_portrait != null:
		var avatar_id := await _register_face()
		if avatar_id != "":
			config["avatar_id"] = avatar_id
	_client.open(config)


## The SessionConfig this NPC asks for (see the exports).
func session_config() -> Dictionary:
	var image := encoding == Encoding.JPEG
	if encoding == Encoding.AUTO:
		image = texture_rect != null or face_mesh != null
	return {
		"sample_rate_hz": sample_rate_hz,
		"size": size,
		"fps": fps,
		"encoding": "FRAME_ENCODING_JPEG" if image else "FRAME_ENCODING_NONE",
		"blendshapes": blendshapes,
	}


## Say a line: a 16-bit AudioStreamWAV at sample_rate_hz (import it with Compress Mode
## "PCM (Uncompressed)"; stereo is mixed down). Returns the line id, or -1 (see `error`).
func speak(clip: AudioStreamWAV) -> int:
	if clip == null:
		return _refuse("speak(): the clip is null")
	if clip.format != AudioStreamWAV.FORMAT_16_BITS:
		return _refuse(
			(
				"speak(): %s is compressed (format %d); in its Import tab set Compress > Mode to "
				+ "PCM (Uncompressed) (recent Godot imports WAV as QOA by default), then Reimport"
			)
			% [clip.resource_path, clip.format]
		)
	if clip.mix_rate != sample_rate_hz:
		return _refuse(
			(
				"speak(): %s is %d Hz, this NPC's sample_rate_hz is %d: set sample_rate_hz to %d, "
				+ "or in its Import tab set Force > Max Rate Hz to %d"
			)
			% [clip.resource_path, clip.mix_rate, sample_rate_hz, clip.mix_rate, sample_rate_hz]
		)
	return speak_pcm(_mono(clip.data) if clip.stereo else clip.data)


## Say a line given as PCM16 little-endian mono at sample_rate_hz (a TTS reply, say).
func speak_pcm(pcm: PackedByteArray) -> int:
	if pcm.size() < 2 or pcm.size() % 2 != 0:
		return _refuse("speak_pcm(): %d bytes is not PCM16 audio" % pcm.size())
	var line := Line.new(_next_line_id, pcm)
	_next_line_id += 1
	_lines.append(line)
	var step := int(sample_rate_hz * CHUNK_S) * 2
	for offset in range(0, pcm.size(), step):
		_client.send_audio(pcm.slice(offset, offset + step))
	_client.end_utterance()
	return line.id


## Stop talking now (barge-in): the voice stops, queued lines are dropped, the face goes idle.
func interrupt() -> void:
	if _client.is_live():
		_await_interrupted = true  # events and speech frames until INTERRUPTED are stale
	_client.interrupt()
	_voice.flush()
	_frames.drop_speech()
	var dropped := _lines
	_lines = []
	for line in dropped:
		speaking_interrupted.emit(line.id)


## True while a line is being heard or waits to be.
func is_speaking() -> bool:
	return not _lines.is_empty()


## Lines spoken and not yet heard to their end.
func pending_lines() -> int:
	return _lines.size()


## End the session (no reconnect).
func close() -> void:
	_client.close()


func _process(_delta: float) -> void:
	_start_ready_line()
	var heard := _voice.heard_position()
	_finish_heard_lines(heard)  # before the next line's speaking_started
	var line := _line_heard(heard)
	_count_underruns(line != null)
	if line != null and not line.faceless and line.utterance_start >= 0:
		var clock := line.utterance_start + int(heard) - line.queued_at
		var due := _frames.take_due(clock)
		if due != null:
			_show(due)
			stats["speech_frames_shown"] += 1
		_measure_lag(clock)
	elif _latest_idle != null:
		_show(_latest_idle)
	_latest_idle = null


## Enqueue the first line not yet enqueued once its frames are here (or it waited too long).
func _start_ready_line() -> void:
	var earlier_playing := false
	for line in _lines:
		if line.queued_at >= 0:
			earlier_playing = true
			continue
		var now := Time.get_ticks_msec()
		if line.first_frame_ms < 0 and line.utterance_start >= 0:
			if _frames.has_speech_from(line.utterance_start):
				line.first_frame_ms = now
		var ready_to_play := line.first_frame_ms >= 0 and now >= line.first_frame_ms + start_buffer_ms
		if earlier_playing:
			# Earlier lines still play: the server renders this one after them, and there
			# is no silence to fill yet. The wait counts from when the voice runs dry.
			line.wait_from_ms = now
		if not ready_to_play and not line.faceless and now - line.wait_from_ms > max_frame_wait_ms:
			line.faceless = true
			error.emit(
				STATUS_DEADLINE_EXCEEDED,
				"line %d: no frame within %d ms; it plays without the face" % [line.id, max_frame_wait_ms]
			)
		if ready_to_play or line.faceless:
			line.queued_at = _voice.enqueue(line.pcm)
			line.pcm = PackedByteArray()  # the voice holds it now
		return  # one at a time, in order


## The line whose audio is being heard at `heard` (voice samples), or null.
func _line_heard(heard: float) -> Line:
	for line in _lines:
		if line.queued_at >= 0 and heard >= line.queued_at and heard < line.queued_at + line.samples:
			if not line.heard:
				line.heard = true
				speaking_started.emit(line.id)
			return line
	return null


## Count the voice's underruns while a line is heard (between lines they are silence).
func _count_underruns(in_line: bool) -> void:
	var skips := _voice.underruns()
	if in_line and skips > _skips_seen:
		stats["voice_underruns"] += skips - _skips_seen
	_skips_seen = skips


## Update `stats` with the gap between the heard position and the frame shown.
func _measure_lag(clock: int) -> void:
	if _shown_pts < 0:
		return
	var lag_ms := 1000.0 * (clock - _shown_pts) / sample_rate_hz
	stats["max_lag_ms"] = maxf(stats["max_lag_ms"], lag_ms)
	if lag_ms > 1500.0 / fps:  # the next frame was due half a period ago and is not here
		stats["stale_display_frames"] += 1


func _finish_heard_lines(heard: float) -> void:
	while not _lines.is_empty():
		var line := _lines[0]
		if line.queued_at < 0 or heard < line.queued_at + line.samples:
			return
		_lines.pop_front()
		if not line.heard:
			speaking_started.emit(line.id)  # shorter than one display frame
		speaking_ended.emit(line.id)


func _on_started(info: Dictionary) -> void:
	blendshape_names = PackedStringArray(info.get("blendshape_names", []))
	viseme_names = PackedStringArray(info.get("viseme_names", []))
	_await_interrupted = false
	_frames.clear()
	connected.emit(info)


func _on_frame(received: LpmBridgeFrame) -> void:
	if not received.speaking:
		_latest_idle = received  # only the newest idle frame is kept
	elif not _await_interrupted:
		_frames.push(received)


func _on_event(event: Dictionary) -> void:
	var kind: String = event.get("type", "")
	if kind == "EVENT_TYPE_INTERRUPTED":
		_await_interrupted = false
	elif kind == "EVENT_TYPE_UTTERANCE_START" and not _await_interrupted:
		for line in _lines:
			if line.utterance_start < 0 and not line.faceless:
				line.utterance_start = int(event.get("pts_samples", "0"))
				return


func _on_session_lost(_status: int, _message: String, _retrying: bool) -> void:
	# The lines already sent lost their frames: they play without the face (the voice is
	# the game's dialogue; it is not cut because the face server went away).
	for line in _lines:
		line.faceless = true
	_await_interrupted = false
	_frames.clear()


func _show(shown: LpmBridgeFrame) -> void:
	if shown.index == _shown_index:
		return
	_shown_index = shown.index
	_shown_pts = shown.pts_samples
	current_frame = shown
	if not shown.image_data.is_empty():
		_show_image(shown.decode_image())
	if rig != null and not shown.blendshapes.is_empty():
		_apply_rig(shown.blendshapes)
	if head != null and shown.head_rotation.size() == 3:
		var r := shown.head_rotation
		head.rotation = Vector3(-r[1], r[0], r[2])
	frame.emit(shown.pts_samples, shown.blendshapes, shown.head_rotation, shown.viseme)


func _show_image(image: Image) -> void:
	if image == null:
		return
	if texture == null or Vector2i(texture.get_size()) != image.get_size():
		texture = ImageTexture.create_from_image(image)
		if texture_rect != null:
			texture_rect.texture = texture
		if face_mesh != null:
			var material := StandardMaterial3D.new()
			material.shading_mode = BaseMaterial3D.SHADING_MODE_UNSHADED
			material.albedo_texture = texture
			face_mesh.material_override = material
	else:
		texture.update(image)


func _apply_rig(weights: PackedFloat32Array) -> void:
	var smoothing := rig_mapping.smoothing if rig_mapping != null else 0.0
	for i in mini(weights.size(), blendshape_names.size()):
		var arkit := blendshape_names[i]
		var value := weights[i]
		var shape := arkit
		if rig_mapping != null:
			if arkit in rig_mapping.ignored:
				continue
			shape = rig_mapping.shape_name(arkit)
			value = rig_mapping.weight(arkit, value)
		if smoothing > 0.0:
			value = lerpf(value, float(_smoothed.get(arkit, value)), smoothing)
			_smoothed[arkit] = value
		var index: int = _shape_index.get(shape, -2)
		if index == -2:
			index = rig.find_blend_shape_by_name(shape)
			_shape_index[shape] = index
		if index >= 0:
			rig.set_blend_shape_value(index, value)


## Register face_portrait with the daemon; its avatar id, or "" (the error is emitted).
func _register_face() -> String:
	var registration := LpmBridgeAvatar.new()
	registration.url = url.replace("/v1/perform", "/v1/register_avatar")
	add_child(registration, false, Node.INTERNAL_MODE_FRONT)
	registration.error.connect(
		func(status: int, message: String) -> void: error.emit(status, "face: " + message)
	)
	var sizes: Array[int] = [size]
	registration.register(face_portrait.get_image().save_png_to_buffer(), name, sizes)
	# [avatar, status, message]: awaiting a multi-argument signal gives its arguments.
	var result: Array = await registration.finished
	registration.queue_free()
	return str(result[0].get("id", "")) if result[1] == 0 else ""


func _refuse(message: String) -> int:
	push_error("lpm-bridge: " + message)
	error.emit(STATUS_INVALID_ARGUMENT, message)
	return -1


## Interleaved stereo PCM16 -> mono (the mean of both channels).
static func _mono(stereo: PackedByteArray) -> PackedByteArray:
	var mono := PackedByteArray()
	mono.resize(stereo.size() / 2)
	for i in range(0, mono.size() / 2):
		var mixed := (stereo.decode_s16(4 * i) + stereo.decode_s16(4 * i + 2)) / 2
		mono.encode_s16(2 * i, mixed)
	return mono
