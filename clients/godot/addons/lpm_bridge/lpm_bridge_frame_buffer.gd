## LpmBridgeFrameBuffer: frames waiting for the audio clock, still encoded, in pts order.
##
## The playback rule of docs/protocol.md: show the frame with the largest pts_samples at or
## before the audio clock. take_due() hands that frame over and drops every older one, so
## the buffer holds only frames not yet shown: a line rendered faster than real time waits
## here as JPEG bytes (about 1 MB a minute at 256 px), never as decoded Images.
class_name LpmBridgeFrameBuffer
extends RefCounted

## Most frames held; beyond it the oldest go (2 min at 25 fps: a line this far ahead of its
## audio is a client that stopped playing, not one that buffers).
var max_frames := 3000

var _frames: Array[LpmBridgeFrame] = []


## Add a frame (the gateway sends them in index order; a stray one is put in its place).
func push(frame: LpmBridgeFrame) -> void:
	if _frames.is_empty() or _frames[-1].pts_samples <= frame.pts_samples:
		_frames.append(frame)
	else:
		var at := _frames.bsearch_custom(frame, _before)
		_frames.insert(at, frame)
	while _frames.size() > max_frames:
		_frames.pop_front()


## The newest frame at or before `clock` (session samples), or null if none is due yet.
## It and every older frame leave the buffer.
func take_due(clock: int) -> LpmBridgeFrame:
	var due: LpmBridgeFrame = null
	while not _frames.is_empty() and _frames[0].pts_samples <= clock:
		due = _frames.pop_front()
	return due


## The newest frame, leaving the buffer empty (or null if it was empty).
func take_newest() -> LpmBridgeFrame:
	var newest: LpmBridgeFrame = null if _frames.is_empty() else _frames[-1]
	_frames.clear()
	return newest


## Forget the speech frames (barge-in: the line they belong to will never be heard).
func drop_speech() -> void:
	var kept: Array[LpmBridgeFrame] = []
	for frame in _frames:
		if not frame.speaking:
			kept.append(frame)
	_frames = kept


## True if a speech frame at or after `pts` is buffered (a line's first frame has come).
func has_speech_from(pts: int) -> bool:
	for frame in _frames:
		if frame.speaking and frame.pts_samples >= pts:
			return true
	return false


func clear() -> void:
	_frames.clear()


func size() -> int:
	return _frames.size()


## Bytes of encoded pictures held (what this buffer costs).
func image_bytes() -> int:
	var total := 0
	for frame in _frames:
		total += frame.image_data.size()
	return total


static func _before(a: LpmBridgeFrame, b: LpmBridgeFrame) -> bool:
	return a.pts_samples < b.pts_samples
