## LpmBridgeAvatar: registers an NPC's face with the daemon once, at level load.
##
## RegisterAvatar over the WebSocket gateway (ws://HOST:PORT/v1/register_avatar,
## docs/protocol.md): one JSON text request holding the portrait in base64, one reply
## whose "avatar" holds the Avatar. The daemon prepares the face before it replies, so
## the NPC's first line starts without a hitch; the same bytes again return the same id.
##
## The reply is read before anything closes: the server waits for this client's close
## after its reply, and the client closes as soon as it has read it. (The gateway used to
## close at once, and Godot's native WebSocketPeer drops a message that arrives together
## with a close, godotengine/godot#107442: the NPC silently got the default face.)
## A daemon that is not up yet or still loading (UNAVAILABLE) is retried with backoff for
## up to `max_wait_s`. Every failure emits `error` as well as `finished`.
class_name LpmBridgeAvatar
extends Node

## The call ended. On success `avatar` holds the Avatar fields (id, name, sizes...) and
## status is 0; otherwise `avatar` is empty and `message` names the field at fault.
signal finished(avatar: Dictionary, status: int, message: String)
## A failure (also one that will be retried: the message says so).
signal error(status: int, message: String)

const CLOSE_CODE_BASE := 4000  # the gateway closes with 4000 + gRPC status on errors
const STATUS_UNAVAILABLE := 14

@export var url := "ws://127.0.0.1:50052/v1/register_avatar"
## Keep retrying an unreachable or loading daemon for this long, in seconds (0: once).
@export var max_wait_s := 60.0

var _socket: WebSocketPeer
var _request := ""
var _sent := false
var _avatar: Dictionary = {}
var _error_event: Dictionary = {}
var _busy := false
var _give_up_ms := 0
var _retry_at_ms := -1
var _backoff := LpmBridgeBackoff.new()


func _init() -> void:
	process_mode = Node.PROCESS_MODE_ALWAYS  # a level may load behind a pause menu


## Register `portrait` (JPEG/PNG/WebP bytes, at most 4 MiB), prepared at `sizes` (256, 512).
## Await `finished` for the result.
func register(portrait: PackedByteArray, avatar_name := "", sizes: Array[int] = [256]) -> void:
	_request = JSON.stringify(
		{"portrait_image": Marshalls.raw_to_base64(portrait), "name": avatar_name, "sizes": sizes}
	)
	_busy = true
	_backoff = LpmBridgeBackoff.new()
	_give_up_ms = Time.get_ticks_msec() + int(max_wait_s * 1000)
	_connect()


func is_busy() -> bool:
	return _busy


func _connect() -> void:
	_sent = false
	_avatar = {}
	_error_event = {}
	_retry_at_ms = -1
	_socket = WebSocketPeer.new()
	_socket.outbound_buffer_size = 8 * 1024 * 1024  # base64 of a 4 MiB portrait fits
	var err := _socket.connect_to_url(url)
	if err != OK:
		_fail(STATUS_UNAVAILABLE, "cannot connect to %s: %s" % [url, error_string(err)])


func _process(_delta: float) -> void:
	if not _busy:
		return
	if _retry_at_ms >= 0:
		if Time.get_ticks_msec() >= _retry_at_ms:
			_connect()
		return
	_socket.poll()
	var socket_state := _socket.get_ready_state()
	if socket_state == WebSocketPeer.STATE_OPEN and not _sent:
		_sent = true
		_socket.send_text(_request)
	while _socket.get_available_packet_count() > 0:
		_on_text(_socket.get_packet().get_string_from_utf8())
	if _socket.get_ready_state() == WebSocketPeer.STATE_CLOSED:
		_on_closed()


func _on_text(text: String) -> void:
	var doc = JSON.parse_string(text)
	if typeof(doc) != TYPE_DICTIONARY:
		return
	if doc.has("avatar"):
		_avatar = doc["avatar"]
	elif doc.has("event"):
		_error_event = doc["event"]
	else:
		return
	# The final message is read: close now (the server waits for this close).
	_socket.close(1000, "reply read")


func _on_closed() -> void:
	if not _avatar.is_empty():
		_busy = false
		finished.emit(_avatar, 0, "")
		return
	var status := STATUS_UNAVAILABLE
	var message := ""
	var code := _socket.get_close_code()
	if not _error_event.is_empty():
		status = int(_error_event.get("status_code", STATUS_UNAVAILABLE))
		message = str(_error_event.get("message", ""))
	elif code >= CLOSE_CODE_BASE:
		status = code - CLOSE_CODE_BASE
		message = _socket.get_close_reason()
	elif _sent:
		message = "%s closed without a reply (close code %d)" % [url, code]
	else:
		message = "no lpm-bridge daemon at %s (connection failed, close code %d)" % [url, code]
	_fail(status, message)


## Retry UNAVAILABLE while time is left; otherwise finish with the failure.
func _fail(status: int, message: String) -> void:
	if status == STATUS_UNAVAILABLE and Time.get_ticks_msec() < _give_up_ms:
		var delay := _backoff.next_delay()
		_retry_at_ms = Time.get_ticks_msec() + int(delay * 1000)
		error.emit(status, "%s (retrying in %.1f s)" % [message, delay])
		return
	_busy = false
	error.emit(status, message)
	finished.emit({}, status, message)
