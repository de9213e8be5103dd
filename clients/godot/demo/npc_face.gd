## NpcFace: plays a line of dialogue and shows the lpm-bridge face in sync with it.
##
## Put it on a Node with an LpmBridgeClient child and an AudioStreamPlayer child, point
## `portrait` at a TextureRect (2D) and/or `npc_mesh` at a MeshInstance3D whose material
## shows the face (NPC texture), and `rig` at a MeshInstance3D with ARKit-named blend
## shapes (3D). Then call speak(load("res://line.wav")).
##
## Sync rule (docs/protocol.md): the audio is the clock. The line's audio starts playing
## at the UTTERANCE_START position of the session timeline; each frame is shown when the
## audio clock reaches its pts_samples. Between lines, idle frames are shown as they come.
extends Node

@export var sample_rate_hz := 22050
@export var size := 256
@export var portrait: TextureRect
@export var npc_mesh: MeshInstance3D
@export var rig: MeshInstance3D

var _texture: ImageTexture
var _blendshape_names: Array = []
var _queue: Array[Dictionary] = []  # frames waiting for the audio clock, in pts order
var _utterance_start := -1  # session pts (samples) where the playing line starts
var _pending_clip: AudioStreamWAV

@onready var bridge: LpmBridgeClient = $LpmBridgeClient
@onready var voice: AudioStreamPlayer = $AudioStreamPlayer


func _ready() -> void:
	bridge.started.connect(_on_started)
	bridge.frame_received.connect(_on_frame)
	bridge.event_received.connect(_on_event)
	bridge.closed.connect(_on_closed)
	var err := bridge.open({
		"sample_rate_hz": sample_rate_hz, "size": size, "blendshapes": rig != null,
	})
	if err != OK:
		push_error("lpm-bridge: cannot connect to %s (%s)" % [bridge.url, error_string(err)])


## Perform one line: a 16-bit mono AudioStreamWAV at sample_rate_hz. The whole clip is sent
## at once (the server renders faster than real time and this node buffers the frames).
func speak(clip: AudioStreamWAV) -> void:
	if clip.format != AudioStreamWAV.FORMAT_16_BITS or clip.stereo:
		push_error("lpm-bridge: speak() needs 16-bit mono audio")
		return
	if clip.mix_rate != sample_rate_hz:
		push_error("lpm-bridge: clip is %d Hz, session is %d Hz" % [clip.mix_rate, sample_rate_hz])
		return
	_pending_clip = clip
	var pcm: PackedByteArray = clip.data
	var step := sample_rate_hz / 50 * 2  # 20 ms of PCM16 per message
	for offset in range(0, pcm.size(), step):
		bridge.send_audio(pcm.slice(offset, offset + step))
	bridge.end_utterance()


## Stop talking now (the player interrupted the NPC).
func stop_speaking() -> void:
	bridge.interrupt()
	voice.stop()


func _on_started(info: Dictionary) -> void:
	_blendshape_names = info.get("blendshape_names", [])


func _on_event(event: Dictionary) -> void:
	match event["type"]:
		"EVENT_TYPE_UTTERANCE_START":
			_utterance_start = int(event["pts_samples"])
			voice.stream = _pending_clip
			voice.play()
		"EVENT_TYPE_INTERRUPTED", "EVENT_TYPE_UTTERANCE_END":
			pass  # the remaining frames (if any) still play out against the audio clock


func _on_frame(frame: Dictionary, image: Image) -> void:
	frame["image"] = image
	if voice.playing or frame["speaking"]:
		_queue.append(frame)
	else:
		_show(frame)  # idle: frames arrive in real time, show the newest


func _process(_delta: float) -> void:
	if _queue.is_empty():
		return
	if not voice.playing and _utterance_start < 0:
		_show(_queue.pop_back())
		_queue.clear()
		return
	var clock := _audio_clock()
	var due: Dictionary = {}
	while not _queue.is_empty() and int(_queue[0]["pts_samples"]) <= clock:
		due = _queue.pop_front()
	if not due.is_empty():
		_show(due)
	if not voice.playing and _queue.is_empty():
		_utterance_start = -1


## The session-timeline position (in samples) of the audio the listener hears now.
func _audio_clock() -> int:
	if not voice.playing:
		return 1 << 62  # the line has finished: everything queued is due
	var heard := voice.get_playback_position() + AudioServer.get_time_since_last_mix()
	heard -= AudioServer.get_output_latency()
	return _utterance_start + int(max(heard, 0.0) * sample_rate_hz)


func _show(frame: Dictionary) -> void:
	var image: Image = frame["image"]
	if image != null:
		if _texture == null or _texture.get_size() != Vector2(image.get_size()):
			_texture = ImageTexture.create_from_image(image)
			if portrait != null:
				portrait.texture = _texture
			if npc_mesh != null:
				var material := StandardMaterial3D.new()
				material.albedo_texture = _texture
				npc_mesh.material_override = material
		else:
			_texture.update(image)
	if rig != null:
		var weights: Array = frame.get("blendshapes", [])
		for i in range(min(weights.size(), _blendshape_names.size())):
			var index := rig.find_blend_shape_by_name(_blendshape_names[i])
			if index >= 0:
				rig.set_blend_shape_value(index, weights[i])


func _on_closed(status_code: int, message: String) -> void:
	if status_code != 0:
		push_error("lpm-bridge: session ended with status %d: %s" % [status_code, message])
