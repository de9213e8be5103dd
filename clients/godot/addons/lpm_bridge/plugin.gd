## The lpm-bridge editor plugin (Project > Project Settings > Plugins > lpm-bridge).
##
## The nodes are script classes (class_name LpmBridgeNpc, LpmBridgeClient, ...): Godot lists
## them in the Create Node dialog whether or not the plugin is enabled. The plugin does not
## also call add_custom_type() for them: Godot's docs warn that a custom type and a script
## class of the same name conflict. What it adds is a check that a daemon is reachable:
## Project > Tools > "lpm-bridge: check the daemon" opens a session with the settings of the
## selected LpmBridgeNpc (or the defaults) and prints what the daemon answered, or why not.
@tool
extends EditorPlugin

const MENU_ITEM := "lpm-bridge: check the daemon"
const CHECK_TIMEOUT_MS := 5000

var _socket: WebSocketPeer
var _deadline_ms := 0
var _url := ""


func _enter_tree() -> void:
	add_tool_menu_item(MENU_ITEM, _check_daemon)
	set_process(false)


func _exit_tree() -> void:
	remove_tool_menu_item(MENU_ITEM)
	_socket = null


func _check_daemon() -> void:
	var config := {"sample_rate_hz": 22050, "encoding": "FRAME_ENCODING_NONE"}
	_url = "ws://127.0.0.1:50052/v1/perform"
	for node in EditorInterface.get_selection().get_selected_nodes():
		if node is LpmBridgeNpc:
			_url = node.url
			config = node.session_config()
			config["encoding"] = "FRAME_ENCODING_NONE"  # a check needs no pictures
	_socket = WebSocketPeer.new()
	var err := _socket.connect_to_url(_url)
	if err != OK:
		push_error("lpm-bridge: cannot connect to %s: %s" % [_url, error_string(err)])
		return
	_socket.set_meta("config", config)
	_deadline_ms = Time.get_ticks_msec() + CHECK_TIMEOUT_MS
	set_process(true)


func _process(_delta: float) -> void:
	if _socket == null:
		set_process(false)
		return
	_socket.poll()
	var state := _socket.get_ready_state()
	if state == WebSocketPeer.STATE_OPEN and _socket.has_meta("config"):
		_socket.send_text(JSON.stringify({"config": _socket.get_meta("config")}))
		_socket.remove_meta("config")
	while _socket.get_available_packet_count() > 0:
		var packet := _socket.get_packet()
		if _socket.was_string_packet():
			_report(packet.get_string_from_utf8())
	if state == WebSocketPeer.STATE_CLOSED:
		if _socket.get_close_code() == -1:
			push_error(
				"lpm-bridge: no daemon at %s; start one with `lpm-bridge serve --ws-port 50052`" % _url
			)
		_socket = null
	elif Time.get_ticks_msec() > _deadline_ms and state != WebSocketPeer.STATE_CLOSING:
		push_error("lpm-bridge: %s did not answer within %d ms" % [_url, CHECK_TIMEOUT_MS])
		_socket.close()


func _report(text: String) -> void:
	var doc = JSON.parse_string(text)
	if typeof(doc) != TYPE_DICTIONARY:
		return
	if doc.has("started"):
		var started: Dictionary = doc["started"]
		print(
			"lpm-bridge: daemon OK at %s: session %s, config %s"
			% [_url, started.get("session_id", "?"), JSON.stringify(started.get("config", {}))]
		)
		_socket.close(1000, "check done")
	elif doc.has("event") and doc["event"].get("type", "") == "EVENT_TYPE_ERROR":
		var event: Dictionary = doc["event"]
		push_error(
			"lpm-bridge: %s refused the session: status %s: %s"
			% [_url, event.get("status_code", "?"), event.get("message", "")]
		)
		_socket.close(1000, "error read")
