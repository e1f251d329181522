"""EDI X12 with a 3PL: our own envelope reader/writer and the 943, 944 and 997 sets we use.

Layouts follow the X12 4010 sets as described in shared/reference/warehouse-edi.md §3.2.
"""
