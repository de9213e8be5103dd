## LpmBridgeClient: one NPC's live performance over the lpm-bridge WebSocket gateway.
##
## Godot 4 has no gRPC, so this speaks the gateway of `lpm-bridge serve --ws-port PORT`
## (docs/protocol.md, "WebSocket gateway"): JSON text requests, binary PCM16 audio,
## JSON text events, and binary frames laid out as [u32 n][n bytes JSON][image bytes].
## Add it as a child node, call open(), then send_audio() / end_utterance() / interrupt(),
## and listen to the signals. Call poll() happens in _process; nothing blocks.
class_name LpmBridgeClient
extends Node

## The session is live: SessionStarted as a Dictionary (width, height, blendshape_names...).
signal started(info: Dictionary)
## One frame: its Frame fields (index, pts_samples, speaking, viseme, blendshapes...) and
## the decoded picture (null for FRAME_ENCODING_NONE).
signal frame_received(frame: Dictionary, image: Image)
## An Event (type, pts_samples, message) such as EVENT_TYPE_UTTERANCE_START.
signal event_received(event: Dictionary)
## The call ended; status_code is the gRPC status (0 = OK) and message says why.
signal closed(status_code: int, message: String)

const CLOSE_CODE_BASE := 4000  # the gateway closes with 4000 + gRPC status on errors

@export var url := "ws://127.0.0.1:50052/v1/perform"

var _socket := WebSocketPeer.new()
var _config: Dictionary = {}
var _was_open := false
var _closed_reported := false


## Connect and send the session config (SessionConfig fields, snake_case, e.g.
## {"sample_rate_hz": 22050, "size": 256, "blendshapes": true}).
func open(config: Dictionary) -> Error:
	_config = config
	_was_open = false
	_closed_reported = false
	# 8 MiB frames at most (a 512x512 RGBA8 frame is 1 MiB); default buffers are 64 KiB.
	_socket.inbound_buffer_size = 8 * 1024 * 1024
	_socket.outbound_buffer_size = 4 * 1024 * 1024
	return _socket.connect_to_url(url)


## Queue PCM16 little-endian mono audio at config.sample_rate_hz (20 to 40 ms per call is ideal).
func send_audio(pcm: PackedByteArray) -> void:
	if _socket.get_ready_state() == WebSocketPeer.STATE_OPEN:
		_socket.put_packet(pcm)


## The current line is complete: the server flushes it and sends EVENT_TYPE_UTTERANCE_END.
func end_utterance() -> void:
	_send_json({"end_of_utterance": {}})


## Barge-in: drop the queued speech; the server answers EVENT_TYPE_INTERRUPTED.
func interrupt() -> void:
	_send_json({"interrupt": {}})


## End the call (the server stops reading; frames still in flight are discarded).
func close() -> void:
	_socket.close(1000, "done")


func is_live() -> bool:
	return _socket.get_ready_state() == WebSocketPeer.STATE_OPEN


func _process(_delta: float) -> void:
	_socket.poll()
	var state := _socket.get_ready_state()
	if state == WebSocketPeer.STATE_OPEN:
		if not _was_open:
			_was_open = true
			_send_json({"config": _config})
		while _socket.get_available_packet_count() > 0:
			var packet := _socket.get_packet()
			if _socket.was_string_packet():
				_on_text(packet.get_string_from_utf8())
			else:
				_on_frame(packet)
	elif state == WebSocketPeer.STATE_CLOSED and not _closed_reported:
		_closed_reported = true
		var code := _socket.get_close_code()
		var status := code - CLOSE_CODE_BASE if code >= CLOSE_CODE_BASE else 0
		closed.emit(status, _socket.get_close_reason())


func _send_json(message: Dictionary) -> void:
	if _socket.get_ready_state() == WebSocketPeer.STATE_OPEN:
		_socket.send_text(JSON.stringify(message))


func _on_text(text: String) -> void:
	var doc = JSON.parse_string(text)
	if typeof(doc) != TYPE_DICTIONARY:
		push_warning("lpm-bridge: unreadable message %s" % text.left(80))
	elif doc.has("started"):
		started.emit(doc["started"])
	elif doc.has("event"):
		event_received.emit(doc["event"])


func _on_frame(packet: PackedByteArray) -> void:
	var n := packet.decode_u32(0)
	var doc = JSON.parse_string(packet.slice(4, 4 + n).get_string_from_utf8())
	if typeof(doc) != TYPE_DICTIONARY or not doc.has("frame"):
		return
	var frame: Dictionary = doc["frame"]
	# The protobuf JSON mapping writes 64-bit integers as strings.
	frame["index"] = int(frame["index"])
	frame["pts_samples"] = int(frame["pts_samples"])
	frame_received.emit(frame, _decode_image(frame, packet.slice(4 + n)))


func _decode_image(frame: Dictionary, data: PackedByteArray) -> Image:
	var width := int(frame["width"])
	var height := int(frame["height"])
	match frame["encoding"]:
		"FRAME_ENCODING_JPEG":
			var image := Image.new()
			if image.load_jpg_from_buffer(data) == OK:
				return image
		"FRAME_ENCODING_RGB8":
			return Image.create_from_data(width, height, false, Image.FORMAT_RGB8, data)
		"FRAME_ENCODING_RGBA8":
			return Image.create_from_data(width, height, false, Image.FORMAT_RGBA8, data)
	return null
