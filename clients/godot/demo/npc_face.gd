## NpcFace: plays a line of dialogue and shows the lpm-bridge face in sync with it.
##
## Put it on a Node with an LpmBridgeClient child and an AudioStreamPlayer child, point
## `portrait` at a TextureRect (2D) and/or `npc_mesh` at a MeshInstance3D whose material
## shows the face (NPC texture), and `rig` at a MeshInstance3D with ARKit-named blend
## shapes (3D). Set `face_portrait` to give the NPC its own face, registered with the
## daemon at level load. Then call speak(load("res://line.wav")).
##
## Sync rule (docs/protocol.md): the audio is the clock. The line's audio starts playing
## at the UTTERANCE_START position of the session timeline, once its first speech frame has
## arrived plus start_buffer_ms; each frame is shown when the audio clock reaches its
## pts_samples. Between lines, idle frames are shown as they come.
extends Node

@export var sample_rate_hz := 22050
@export var size := 256
@export var portrait: TextureRect
@export var npc_mesh: MeshInstance3D
@export var rig: MeshInstance3D
## This NPC's own face (a portrait texture, imported lossless as 2D textures are by
## default). Registered at level load (_ready) at `size`; empty: the daemon's default face.
@export var face_portrait: Texture2D
## The line's audio waits for its first frame plus this buffer: a busy server then delays
## the line a little instead of letting the face lag the voice (docs/performance.md: with
## 16 lines sent at once, about 150 ms keeps every frame on time).
@export var start_buffer_ms := 150

var _texture: ImageTexture
var _blendshape_names: Array = []
var _queue: Array[Dictionary] = []  # frames waiting for the audio clock, in pts order
var _utterance_start := -1  # session pts (samples) where the playing line starts
var _pending_clip: AudioStreamWAV
var _waiting := false  # a line is queued; its audio waits for its first frame
var _start_at_ms := -1  # Time.get_ticks_msec() at which the waiting line starts playing

@onready var bridge: LpmBridgeClient = $LpmBridgeClient
@onready var voice: AudioStreamPlayer = $AudioStreamPlayer


func _ready() -> void:
	bridge.started.connect(_on_started)
	bridge.frame_received.connect(_on_frame)
	bridge.event_received.connect(_on_event)
	bridge.closed.connect(_on_closed)
	var config := {"sample_rate_hz": sample_rate_hz, "size": size, "blendshapes": rig != null}
	if face_portrait != null:
		var avatar_id := await _register_face()
		if avatar_id != "":
			config["avatar_id"] = avatar_id
	var err := bridge.open(config)
	if err != OK:
		push_error("lpm-bridge: cannot connect to %s (%s)" % [bridge.url, error_string(err)])


## Register face_portrait with the daemon; its avatar id, or "" (logged) if that failed.
func _register_face() -> String:
	var registration := LpmBridgeAvatar.new()
	registration.url = bridge.url.replace("/v1/perform", "/v1/register_avatar")
	add_child(registration)
	var png := face_portrait.get_image().save_png_to_buffer()
	var sizes: Array[int] = [size]
	var avatar_id := ""
	if registration.register(png, name, sizes) == OK:
		# [avatar, status_code, message]: await returns a multi-argument signal's arguments.
		var result: Array = await registration.finished
		if result[1] == 0:
			avatar_id = result[0]["id"]
		else:
			push_error("lpm-bridge: face not registered: %d %s" % [result[1], result[2]])
	else:
		push_error("lpm-bridge: cannot connect to %s" % registration.url)
	registration.queue_free()
	return avatar_id


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
	_drop_waiting_line()


func _on_started(info: Dictionary) -> void:
	_blendshape_names = info.get("blendshape_names", [])


func _on_event(event: Dictionary) -> void:
	match event["type"]:
		"EVENT_TYPE_UTTERANCE_START":
			_utterance_start = int(event["pts_samples"])
			voice.stream = _pending_clip
			_waiting = true
			_start_at_ms = -1
		"EVENT_TYPE_INTERRUPTED":
			_drop_waiting_line()  # a playing line's remaining frames play out as below
		"EVENT_TYPE_UTTERANCE_END":
			pass  # the remaining frames (if any) still play out against the audio clock


func _on_frame(frame: Dictionary, image: Image) -> void:
	frame["image"] = image
	if voice.playing or _waiting or frame["speaking"]:
		_queue.append(frame)
	else:
		_show(frame)  # idle: frames arrive in real time, show the newest


func _process(_delta: float) -> void:
	if _waiting:
		_start_when_buffered()
	if _queue.is_empty():
		return
	if not voice.playing and not _waiting and _utterance_start < 0:
		_show(_queue.pop_back())
		_queue.clear()
		return
	var clock := _audio_clock()
	var due: Dictionary = {}
	while not _queue.is_empty() and int(_queue[0]["pts_samples"]) <= clock:
		due = _queue.pop_front()
	if not due.is_empty():
		_show(due)
	if not voice.playing and not _waiting and _queue.is_empty():
		_utterance_start = -1


## Start the waiting line's audio once its first speech frame is here plus start_buffer_ms.
func _start_when_buffered() -> void:
	if _start_at_ms < 0:
		for frame in _queue:
			if frame["speaking"] and int(frame["pts_samples"]) >= _utterance_start:
				_start_at_ms = Time.get_ticks_msec() + start_buffer_ms
				break
	if _start_at_ms >= 0 and Time.get_ticks_msec() >= _start_at_ms:
		_waiting = false
		voice.play()


## Forget a line whose audio has not started (interrupted while waiting for its frames).
func _drop_waiting_line() -> void:
	if _waiting:
		_waiting = false
		_queue.clear()
		_utterance_start = -1


## The session-timeline position (in samples) of the audio the listener hears now.
func _audio_clock() -> int:
	if _waiting:
		return _utterance_start - 1  # the line has not started: only frames before it are due
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
