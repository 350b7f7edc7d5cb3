@_exported import BirthrightFFI
