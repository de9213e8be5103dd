## LpmBridgeAvatar: registers an NPC's face with the daemon once, at level load.
##
## RegisterAvatar over the WebSocket gateway (`lpm-bridge serve --ws-port PORT`,
## docs/protocol.md): one JSON text request holding the portrait in base64, one reply whose
## "avatar" holds the Avatar, then the server closes. The daemon encodes the face and hands
## it to its compute processes before it replies, so the NPC's first line starts without a
## hitch; the same bytes again return the same id at once. Add it as a child node, call
## register() and await `finished`; put the id in the session config's "avatar_id".
class_name LpmBridgeAvatar
extends Node

## The call ended. On success `avatar` holds the Avatar fields (id, name, sizes...) and
## status_code is 0; otherwise `avatar` is empty and `message` names the field at fault.
signal finished(avatar: Dictionary, status_code: int, message: String)

const CLOSE_CODE_BASE := 4000  # the gateway closes with 4000 + gRPC status on errors
const UNAVAILABLE := 14  # gRPC status: closed without a reply (no daemon, no gateway)

@export var url := "ws://127.0.0.1:50052/v1/register_avatar"

var _socket := WebSocketPeer.new()
var _request := ""
var _sent := false
var _avatar: Dictionary = {}
var _busy := false


## Register `portrait` (JPEG/PNG/WebP bytes, at most 4 MiB), prepared at `sizes` (256, 512).
func register(portrait: PackedByteArray, avatar_name := "", sizes: Array[int] = [256]) -> Error:
	_request = JSON.stringify(
		{"portrait_image": Marshalls.raw_to_base64(portrait), "name": avatar_name, "sizes": sizes}
	)
	_sent = false
	_avatar = {}
	_busy = true
	_socket.outbound_buffer_size = 8 * 1024 * 1024  # base64 of a 4 MiB portrait fits
	return _socket.connect_to_url(url)


func _process(_delta: float) -> void:
	if not _busy:
		return
	_socket.poll()
	var state := _socket.get_ready_state()
	if state == WebSocketPeer.STATE_OPEN and not _sent:
		_sent = true
		_socket.send_text(_request)
	while _socket.get_available_packet_count() > 0:
		var doc = JSON.parse_string(_socket.get_packet().get_string_from_utf8())
		if typeof(doc) == TYPE_DICTIONARY and doc.has("avatar"):
			_avatar = doc["avatar"]
	if state == WebSocketPeer.STATE_CLOSED:
		_busy = false
		var code := _socket.get_close_code()
		var status := code - CLOSE_CODE_BASE if code >= CLOSE_CODE_BASE else 0
		if status == 0 and _avatar.is_empty():
			status = UNAVAILABLE
		finished.emit(_avatar if status == 0 else {}, status, _socket.get_close_reason())
