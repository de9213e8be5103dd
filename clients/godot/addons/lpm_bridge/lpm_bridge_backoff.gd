## LpmBridgeBackoff: when to try again after the daemon could not be reached.
##
## Exponential backoff with jitter: initial_s, then doubling up to max_s, each delay
## randomised by +-jitter so that many NPCs of one level do not reconnect in lockstep when
## the daemon comes back. reset() after a success.
class_name LpmBridgeBackoff
extends RefCounted

var initial_s := 0.5
var max_s := 10.0
var jitter := 0.2
## Tries since the last success.
var attempts := 0

var _next_s := 0.0


func _init(first_s := 0.5, longest_s := 10.0) -> void:
	initial_s = first_s
	max_s = longest_s
	reset()


## The delay before the next try, in seconds; each call lengthens the following one.
func next_delay() -> float:
	var delay := _next_s * randf_range(1.0 - jitter, 1.0 + jitter)
	_next_s = min(_next_s * 2.0, max_s)
	attempts += 1
	return delay


func reset() -> void:
	_next_s = initial_s
	attempts = 0
