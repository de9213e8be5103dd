## LpmBridgeVoice: the NPC's voice, streamed, and the audio clock the face follows.
##
## An AudioStreamPlayer whose stream is an AudioStreamGenerator at the session's sample rate:
## lines are appended (enqueue) and pushed as PCM frames while the generator has room, so a
## second line plays right after the first instead of cutting it off (set_stream would stop
## it). The generator runs from setup() on; between lines it is fed a little silence
## (idle_fill_s ahead), so the stream, and the clock, keep moving at the audio rate.
##
## The clock (heard_position) is where the listener is in the stream, in samples: samples
## pushed minus those still buffered in the generator, advanced by the time since the last
## mix and held back by the output latency. It stops while the game is paused (the player
## pauses with the tree) and never runs past what was pushed (an underrun holds the face on
## the last sound instead of running ahead).
##
## Web: playback_type is STREAM. A generator cannot be played as a Web Audio sample (the
## default playback type of web exports since Godot 4.3, project setting
## audio/general/default_playback_type.web), and sample playback reports no position; the
## stream path mixes in Godot's own audio worklet, which needs a threaded web export (or
## keep the frame rate up: single-threaded exports mix on the main loop).
class_name LpmBridgeVoice
extends AudioStreamPlayer

## Samples the generator holds ahead of the listener, in seconds (more: safer against a
## slow frame; the clock accounts for it either way).
@export var buffer_length_s := 0.5
## Silence kept buffered between lines, in seconds: a line starts at most this much after
## it is enqueued, and the clock keeps running between lines (the end of a line is heard).
@export var idle_fill_s := 0.1

var sample_rate_hz := 22050

var _playback: AudioStreamGeneratorPlayback
var _capacity := 0  # frames the generator's ring buffer holds
var _pending: Array[PackedByteArray] = []  # PCM16 waiting for room in the generator
var _pending_offset := 0  # bytes of _pending[0] already pushed
var _enqueued := 0  # samples in the stream (lines and silence) since setup() or flush()
var _pushed := 0  # of those, samples pushed into the generator
var _latency_s := 0.0
var _latency_read_ms := -100000


## Start the generator at `rate` Hz (the session's sample_rate_hz). Call once in the tree.
func setup(rate: int) -> void:
	sample_rate_hz = rate
	var generator := AudioStreamGenerator.new()
	if "mix_rate_mode" in generator:
		generator.set("mix_rate_mode", 2)  # MIX_RATE_CUSTOM (Godot 4.4+): use mix_rate
	generator.mix_rate = rate
	generator.buffer_length = buffer_length_s
	stream = generator
	playback_type = AudioServer.PLAYBACK_TYPE_STREAM  # see the class description
	_restart()


## Append PCM16 little-endian mono samples; returns where they start in the stream (the
## position heard_position() reports when the listener reaches them).
func enqueue(pcm: PackedByteArray) -> int:
	var start := _enqueued
	if pcm.size() >= 2:
		_pending.append(pcm)
		_enqueued += pcm.size() / 2
		_feed()
	return start


## The end of the stream so far, in samples (where a line enqueued now would start).
func enqueued_end() -> int:
	return _enqueued


## Where the listener is in the enqueued stream, in samples (see the class description).
func heard_position() -> float:
	if _playback == null:
		return 0.0
	var buffered := _capacity - _playback.get_frames_available()
	var consumed := float(_pushed - buffered)
	if not playing or stream_paused:
		return clampf(consumed - _output_latency() * sample_rate_hz, 0.0, float(_pushed))
	var since_mix := AudioServer.get_time_since_last_mix()
	var heard := consumed + (since_mix - _output_latency()) * sample_rate_hz
	return clampf(heard, 0.0, float(_pushed))


## Times the generator ran dry since setup() or flush() (the listener heard a gap; the
## clock waited for the sound).
func underruns() -> int:
	return _playback.get_skips() if _playback != null else 0


## Stop now: discard everything enqueued (barge-in). Positions start again from 0.
func flush() -> void:
	_pending.clear()
	_pending_offset = 0
	_enqueued = 0
	_pushed = 0
	_restart()


## Samples in the stream that the listener has not heard yet (silence included).
func remaining_samples() -> int:
	return _enqueued - int(heard_position())


func _process(_delta: float) -> void:
	_feed()


func _restart() -> void:
	# A generator's buffer cannot be cleared while it plays: a fresh playback is.
	stop()
	play()
	_playback = get_stream_playback() as AudioStreamGeneratorPlayback
	_capacity = _playback.get_frames_available() if _playback != null else 0


## Push pending PCM while the generator has room; with none pending, keep idle_fill_s of
## silence buffered.
func _feed() -> void:
	if _playback == null:
		return
	var room := _playback.get_frames_available()
	if _pending.is_empty():
		var silence := int(idle_fill_s * sample_rate_hz) - (_capacity - room)
		if silence > 0:
			var zeros := PackedVector2Array()
			zeros.resize(silence)
			_playback.push_buffer(zeros)
			_pushed += silence
			_enqueued += silence
		return
	while room > 0 and not _pending.is_empty():
		var chunk := _pending[0]
		var count := mini(room, (chunk.size() - _pending_offset) / 2)
		var frames := PackedVector2Array()
		frames.resize(count)
		for i in count:
			var s := chunk.decode_s16(_pending_offset + 2 * i) / 32768.0
			frames[i] = Vector2(s, s)
		_playback.push_buffer(frames)
		_pushed += count
		room -= count
		_pending_offset += 2 * count
		if _pending_offset + 1 >= chunk.size():
			_pending.pop_front()
			_pending_offset = 0


## AudioServer.get_output_latency(), read at most every 2 s (it can be costly to query).
func _output_latency() -> float:
	var now := Time.get_ticks_msec()
	if now - _latency_read_ms > 2000:
		_latency_read_ms = now
		_latency_s = AudioServer.get_output_latency()
	return _latency_s
