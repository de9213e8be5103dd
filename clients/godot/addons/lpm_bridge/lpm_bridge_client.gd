## LpmBridgeClient: one NPC's live Perform session over the lpm-bridge WebSocket gateway.
##
## Godot 4 has no gRPC, so this speaks the gateway of `lpm-bridge serve --ws-port PORT`
## (docs/protocol.md, "WebSocket gateway"): JSON text requests, binary PCM16 audio, JSON
## text events, and binary frames [u32 n][n bytes JSON][image bytes], handed on still
## encoded (LpmBridgeFrame). LpmBridgeNpc drives one; use this node directly only to build
## your own playback.
##
## What it takes care of:
## * Pause: it processes while the game is paused (PROCESS_MODE_ALWAYS), so the socket is
##   still read: the gateway's keepalive pings are answered (a paused reader was dropped
##   after ~40 s) and idle frames are drained instead of backing up on the server.
## * Failures are loud: every one emits `error` with its gRPC status. No daemon, a daemon
##   still loading (UNAVAILABLE) or restarting: it reconnects with backoff (session_lost
##   says so) and sends the config again; requests sent meanwhile wait in an outbox.
## * A failed call's reason arrives as an EVENT_TYPE_ERROR event before the close; the
##   client closes its side as soon as it has read it (the server waits for that), because
##   Godot's native WebSocketPeer drops messages that arrive together with a close
##   (godotengine/godot#107442).
class_name LpmBridgeClient
extends Node

## The session is live: SessionStarted as a Dictionary (session_id, config, width, height,
## blendshape_names, viseme_names). Emitted again after each reconnect.
signal started(info: Dictionary)
## One frame, its picture still encoded (LpmBridgeFrame.decode_image()).
signal frame_received(frame: LpmBridgeFrame)
## An Event as a Dictionary (type, pts_samples, message...), e.g. EVENT_TYPE_UTTERANCE_START.
signal event_received(event: Dictionary)
## Something failed. status: the gRPC status code (3 INVALID_ARGUMENT, 5 NOT_FOUND,
## 8 RESOURCE_EXHAUSTED, 9 FAILED_PRECONDITION, 14 UNAVAILABLE...); message names the field
## at fault or says what happens next ("retrying in 1.0 s").
signal error(status: int, message: String)
## The session ended without close() being called. retrying: a reconnect is scheduled.
## Lines in flight are lost; the server starts a fresh timeline on the next session.
signal session_lost(status: int, message: String, retrying: bool)

enum State { IDLE, CONNECTING, OPEN, WAITING_RETRY, CLOSING, CLOSED }

const CLOSE_CODE_BASE := 4000  # the gateway closes with 4000 + gRPC status on errors
const STATUS_OK := 0
const STATUS_RESOURCE_EXHAUSTED := 8
const STATUS_UNAVAILABLE := 14
## Requests held while (re)connecting or while the socket's send buffer is full, at most.
const MAX_OUTBOX_BYTES := 8 * 1024 * 1024
## Bytes handed to the socket and not yet sent, at most: beyond it requests wait in the
## outbox, where an interrupt can still overtake them.
const MAX_IN_FLIGHT_BYTES := 256 * 1024

## The gateway's Perform endpoint.
@export var url := "ws://127.0.0.1:50052/v1/perform"
## Reconnect (with backoff) when the daemon is unreachable, loading or restarting.
@export var auto_reconnect := true
## First and longest delay between reconnects, in seconds.
@export var retry_initial_s := 0.5
@export var retry_max_s := 10.0
## A connection not open after this long is abandoned (and retried).
@export var connect_timeout_s := 5.0
## Time spent reading messages per game frame, at most (the rest waits for the next frame).
@export var receive_budget_ms := 4.0

var state := State.IDLE
## The last SessionStarted (empty until the first).
var session_info: Dictionary = {}

var _socket: WebSocketPeer
var _config: Dictionary = {}
var _outbox: Array = []  # String (JSON request) or PackedByteArray (PCM16), oldest first
var _outbox_bytes := 0
var _backoff := LpmBridgeBackoff.new()
var _retry_at_ms := 0
var _deadline_ms := 0
var _error_event: Dictionary = {}  # the EVENT_TYPE_ERROR that ends this call, if any


func _init() -> void:
	# Keep reading while the game is paused (see the class description).
	process_mode = Node.PROCESS_MODE_ALWAYS


## Start the session: connect and send `config` (SessionConfig fields, snake_case, e.g.
## {"sample_rate_hz": 22050, "size": 256, "blendshapes": true}). Failures come as `error`.
func open(config: Dictionary) -> void:
	_config = config
	_backoff = LpmBridgeBackoff.new(retry_initial_s, retry_max_s)
	_connect()  # requests queued before open() wait in the outbox and follow the config


## Queue PCM16 little-endian mono audio at config.sample_rate_hz (any length; it is sent
## in order, at the pace the socket takes it).
func send_audio(pcm: PackedByteArray) -> void:
	if not pcm.is_empty():
		_enqueue(pcm)


## The current line is complete: the server flushes it and sends EVENT_TYPE_UTTERANCE_END.
func end_utterance() -> void:
	_enqueue(JSON.stringify({"end_of_utterance": {}}))


## Barge-in: the audio and end marks not sent yet are dropped here, the interrupt goes
## first; the server drops the rest and answers EVENT_TYPE_INTERRUPTED.
func interrupt() -> void:
	var kept: Array = []
	for message in _outbox:
		if message is String and not message.begins_with("{\"end_of_utterance\""):
			kept.append(message)
	_outbox = kept
	_outbox_bytes = 0
	for message in _outbox:
		_outbox_bytes += _size_of(message)
	_enqueue(JSON.stringify({"interrupt": {}}))


## End the call (no reconnect). Frames still in flight are discarded.
func close() -> void:
	_clear_outbox()
	if state in [State.CONNECTING, State.OPEN] and _socket != null:
		_socket.close(1000, "done")
		state = State.CLOSING
	else:
		state = State.CLOSED


func is_live() -> bool:
	return state == State.OPEN


func _process(_delta: float) -> void:
	match state:
		State.CONNECTING, State.OPEN, State.CLOSING:
			_poll()
		State.WAITING_RETRY:
			if Time.get_ticks_msec() >= _retry_at_ms:
				_connect()


func _connect() -> void:
	_error_event = {}
	_socket = WebSocketPeer.new()
	# Frames up to 8 MiB (512x512 RGBA8 is 1 MiB); the default buffers are 64 KiB.
	_socket.inbound_buffer_size = 8 * 1024 * 1024
	_socket.outbound_buffer_size = 2 * MAX_IN_FLIGHT_BYTES + 64 * 1024
	var err := _socket.connect_to_url(url)
	if err != OK:
		_lost(STATUS_UNAVAILABLE, "cannot connect to %s: %s" % [url, error_string(err)])
		return
	state = State.CONNECTING
	_deadline_ms = Time.get_ticks_msec() + int(connect_timeout_s * 1000)


func _poll() -> void:
	_socket.poll()
	var socket_state := _socket.get_ready_state()
	if socket_state == WebSocketPeer.STATE_OPEN and state == State.CONNECTING:
		state = State.OPEN
		_socket.send_text(JSON.stringify({"config": _config}))
	elif socket_state == WebSocketPeer.STATE_CONNECTING and Time.get_ticks_msec() > _deadline_ms:
		_socket.close()
		_lost(STATUS_UNAVAILABLE, "no answer from %s within %.0f s" % [url, connect_timeout_s])
		return
	# Read before looking at a close: what arrived is handed on first. At most
	# receive_budget_ms of it per game frame: a line rendered faster than real time arrives
	# as a burst of frames, and parsing it all at once would stall the game (and, on a
	# single-threaded web export, the audio mixed on the same thread).
	var budget_end := Time.get_ticks_usec() + int(receive_budget_ms * 1000)
	while _socket.get_available_packet_count() > 0 and Time.get_ticks_usec() < budget_end:
		var packet := _socket.get_packet()
		if _socket.was_string_packet():
			_on_text(packet.get_string_from_utf8())
		else:
			var frame := LpmBridgeFrame.from_packet(packet)
			if frame != null:
				frame_received.emit(frame)
	if state == State.OPEN and _error_event.is_empty():
		_flush()
	var unread := _socket.get_available_packet_count()
	if unread == 0 and _socket.get_ready_state() == WebSocketPeer.STATE_CLOSED:
		_on_closed()


func _on_text(text: String) -> void:
	var doc = JSON.parse_string(text)
	if typeof(doc) != TYPE_DICTIONARY:
		push_warning("lpm-bridge: unreadable message %s" % text.left(80))
	elif doc.has("started"):
		session_info = doc["started"]
		_backoff.reset()
		started.emit(session_info)
	elif doc.has("event"):
		var event: Dictionary = doc["event"]
		if event.get("type", "") == "EVENT_TYPE_ERROR":
			# The call is over: close our side now that the reason is read (the server
			# waits for this close; see the class description).
			_error_event = event
			_socket.close(1000, "error read")
		event_received.emit(event)


func _on_closed() -> void:
	if state == State.CLOSING:
		state = State.CLOSED  # close() was called: nothing to report
		return
	var code := _socket.get_close_code()
	var status := STATUS_UNAVAILABLE
	var message := ""
	if not _error_event.is_empty():
		status = int(_error_event.get("status_code", STATUS_UNAVAILABLE))
		message = str(_error_event.get("message", ""))
	elif code >= CLOSE_CODE_BASE:
		status = code - CLOSE_CODE_BASE
		message = _socket.get_close_reason()
	elif code == 1000 or code == 1001:
		message = "the daemon at %s ended the session (shutting down or restarting)" % url
	else:
		message = (
			"no lpm-bridge daemon at %s (connection failed or lost, close code %d); "
			+ "start one with `lpm-bridge serve --ws-port PORT`"
		) % [url, code]
	_lost(status, message)


## The session is gone: report it loudly, then reconnect when that can help.
func _lost(status: int, message: String) -> void:
	if state == State.OPEN:
		# Part of what was queued reached the lost session: the rest would be a fragment.
		# Requests queued while no connection ever opened wait for the next one instead.
		_clear_outbox()
	var retrying := auto_reconnect and status in [STATUS_UNAVAILABLE, STATUS_RESOURCE_EXHAUSTED]
	if retrying:
		var delay := _backoff.next_delay()
		_retry_at_ms = Time.get_ticks_msec() + int(delay * 1000)
		state = State.WAITING_RETRY
		message += " (retrying in %.1f s, try %d)" % [delay, _backoff.attempts]
	else:
		state = State.CLOSED
	error.emit(status, message)
	session_lost.emit(status, message, retrying)


func _enqueue(message: Variant) -> void:
	if state == State.CLOSED or state == State.CLOSING:
		error.emit(STATUS_UNAVAILABLE, "lpm-bridge: the session is closed (call open() again)")
		return
	var size := _size_of(message)
	if _outbox_bytes + size > MAX_OUTBOX_BYTES:
		error.emit(
			STATUS_RESOURCE_EXHAUSTED,
			"lpm-bridge: %d bytes wait to be sent already (daemon unreachable?); dropped" % _outbox_bytes
		)
		return
	_outbox.append(message)
	_outbox_bytes += size
	if state == State.OPEN:
		_flush()


## Hand queued requests to the socket while it has room.
func _flush() -> void:
	while not _outbox.is_empty():
		if _socket.get_current_outbound_buffered_amount() > MAX_IN_FLIGHT_BYTES:
			return
		var message = _outbox[0]
		var err: Error
		if message is String:
			err = _socket.send_text(message)
		else:
			err = _socket.put_packet(message)
		if err != OK:
			return  # the send buffer is full: try again next frame
		_outbox.pop_front()
		_outbox_bytes -= _size_of(message)


func _clear_outbox() -> void:
	_outbox.clear()
	_outbox_bytes = 0


static func _size_of(message: Variant) -> int:
	if message is String:
		return message.length()
	return (message as PackedByteArray).size()
