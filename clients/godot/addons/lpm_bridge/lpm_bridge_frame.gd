## LpmBridgeFrame: one frame of a performance, as the gateway sent it, picture still encoded.
##
## The gateway sends each frame as one binary message, [u32 little-endian n][n bytes of
## {"frame": {...}} JSON][image bytes] (docs/protocol.md, "WebSocket gateway"). A frame keeps
## its image as those bytes (a JPEG is ~15 KB at 256 px, ~40 KB at 512) and is decoded only
## when it is shown (decode_image): keeping every decoded Image of a 60 s line at 512 px
## would hold ~1.2 GB.
class_name LpmBridgeFrame
extends RefCounted

const HEADER_BYTES := 4  # the u32 length of the JSON part

## Frame number on the session timeline, from 0.
var index := 0
## Position on the session timeline, in input-audio samples (floor(index * rate / fps)).
var pts_samples := 0
## True when the frame lies within an utterance's audio span.
var speaking := false
## Dominant viseme: an index into SessionStarted.viseme_names (0 is "sil").
var viseme := 0
## ARKit-52 weights in [0, 1], in SessionStarted.blendshape_names order (empty unless the
## session asked for blendshapes).
var blendshapes := PackedFloat32Array()
## Head yaw, pitch, roll in radians (empty unless the session asked for blendshapes).
var head_rotation := PackedFloat32Array()
## "FRAME_ENCODING_JPEG", "FRAME_ENCODING_RGB8", "FRAME_ENCODING_RGBA8" or "FRAME_ENCODING_NONE".
var encoding := "FRAME_ENCODING_NONE"
var width := 0
var height := 0
## The picture, still encoded as `encoding` says (empty for FRAME_ENCODING_NONE).
var image_data := PackedByteArray()


## A frame from one binary gateway message; null if the message is not a frame.
static func from_packet(packet: PackedByteArray) -> LpmBridgeFrame:
	if packet.size() < HEADER_BYTES:
		return null
	var n := packet.decode_u32(0)
	if HEADER_BYTES + n > packet.size():
		return null
	var doc = JSON.parse_string(packet.slice(HEADER_BYTES, HEADER_BYTES + n).get_string_from_utf8())
	if typeof(doc) != TYPE_DICTIONARY or not doc.has("frame"):
		return null
	var frame: Dictionary = doc["frame"]
	var result := LpmBridgeFrame.new()
	# The protobuf JSON mapping writes 64-bit integers (index, pts_samples) as strings.
	result.index = int(frame.get("index", "0"))
	result.pts_samples = int(frame.get("pts_samples", "0"))
	result.speaking = bool(frame.get("speaking", false))
	result.viseme = int(frame.get("viseme", 0))
	result.blendshapes = PackedFloat32Array(frame.get("blendshapes", []))
	result.head_rotation = PackedFloat32Array(frame.get("head_rotation", []))
	result.encoding = str(frame.get("encoding", "FRAME_ENCODING_NONE"))
	result.width = int(frame.get("width", 0))
	result.height = int(frame.get("height", 0))
	result.image_data = packet.slice(HEADER_BYTES + n)
	return result


## The decoded picture, or null (no image, or bytes that do not decode).
func decode_image() -> Image:
	if image_data.is_empty():
		return null
	match encoding:
		"FRAME_ENCODING_JPEG":
			var image := Image.new()
			if image.load_jpg_from_buffer(image_data) == OK:
				return image
		"FRAME_ENCODING_RGB8":
			return Image.create_from_data(width, height, false, Image.FORMAT_RGB8, image_data)
		"FRAME_ENCODING_RGBA8":
			return Image.create_from_data(width, height, false, Image.FORMAT_RGBA8, image_data)
	return null
