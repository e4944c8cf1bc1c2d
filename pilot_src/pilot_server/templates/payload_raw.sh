# -- the pilot, embedded: the last @RAW_SIZE@ bytes of this file, pilot.pyz as signed (after "exit")
pw_encoding=raw
pw_raw_size=@RAW_SIZE@
case $0 in /*) pw_self=$0 ;; *) pw_self=$pw_start_dir/$0 ;; esac
