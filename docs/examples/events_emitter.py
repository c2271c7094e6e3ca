"""EventEmitter on its own: Node's events API, in Python names."""

import trionet


class Door(trionet.EventEmitter):
    def open(self, who):
        self.emit("open", who)


door = Door()
door.on("open", lambda who: print(f"{who} opened the door"))
door.once("open", lambda who: print("  (the first time only)"))
door.open("ada")
door.open("bob")
print("listeners:", door.listener_count("open"), door.event_names())

try:
    door.emit("error", RuntimeError("the door is stuck"))
except RuntimeError as err:
    print("no 'error' listener, so emit() raised:", err)
