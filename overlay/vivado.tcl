# Vivado batch script: the PYNQ-Z2 overlay around the streamcnn accelerator.
#
#   vivado -mode batch -source vivado.tcl -tclargs <build dir> <output dir> <name> <jobs> [<ip name>]
#
# Block design: the shell of shell.tcl (Zynq PS7, AXI DMA at 0x40400000) and
# streamcnn_top (from hls.tcl's IP export) at 0x43C00000, its program stream fed by
# MM2S and its answer going to S2MM.  After implementation, <name>.bit and <name>.hwh are
# copied side by side into <output dir>, as pynq expects them.
#
# The Vivado version is pinned (2022.1: PYNQ 3.0 images); set STREAMCNN_VIVADO_VERSION
# to build with another (2024.1 for PYNQ 3.1 images, see bitstreams/README.md).

set script_dir [file dirname [file normalize [info script]]]
set build [file normalize [lindex $argv 0]]
set output [file normalize [lindex $argv 1]]
set name [lindex $argv 2]
set jobs [lindex $argv 3]
# The accelerator's IP name (hls.tcl: streamcnn_top, or streamcnn_top_<config>)
set ipname streamcnn_top
if {[llength $argv] >= 5} { set ipname [lindex $argv 4] }

source [file join $script_dir shell.tcl]
shell_check_version vivado.tcl

set part xc7z020clg400-1
set bd streamcnn
set ip_repo [file join $build hls solution1 impl ip]
if {![file exists [file join $ip_repo component.xml]]} {
    puts stderr "vivado.tcl: no HLS IP in $ip_repo; run hls.tcl first (make ip)"
    exit 1
}

create_project -force $bd [file join $build vivado] -part $part
set_property ip_repo_paths [list $ip_repo] [current_project]
update_ip_catalog
create_bd_design $bd

# -- the shell (shell.tcl) and the accelerator ---------------------------------------------
shell_ps_and_dma
create_bd_cell -type ip -vlnv xilinx.com:hls:$ipname:1.0 streamcnn_top_0
shell_connect streamcnn_top_0/prog_in streamcnn_top_0/resp_out streamcnn_top_0/s_axi_control \
    {*streamcnn_top_0* 0x43C00000}
shell_finish [file join $build vivado] $bd

# -- implementation -------------------------------------------------------------------------
launch_runs impl_1 -to_step write_bitstream -jobs $jobs
wait_on_run impl_1
set status [get_property STATUS [get_runs impl_1]]
if {[string first "write_bitstream Complete" $status] < 0} {
    puts stderr "vivado.tcl: implementation did not finish: $status"
    exit 1
}

# -- timing: nothing ships that has not met it --------------------------------------------------
# The reports go beside the overlay, so a failed build shows why and a good one says how close.
file mkdir $output
open_run impl_1
report_timing_summary -max_paths 10 -file [file join $output $name.timing.rpt]
report_utilization -file [file join $output $name.utilization.rpt]
set wns [get_property STATS.WNS [get_runs impl_1]]
set whs [get_property STATS.WHS [get_runs impl_1]]
if {![string is double -strict $wns] || ![string is double -strict $whs] || $wns < 0 || $whs < 0} {
    puts stderr "vivado.tcl: timing not met (WNS $wns ns, WHS $whs ns at 100 MHz): no overlay written;\
        see [file join $output $name.timing.rpt]"
    exit 1
}
puts "vivado.tcl: timing met, WNS $wns ns, WHS $whs ns"

# -- the overlay: .bit and .hwh with one base name ----------------------------------------------
file copy -force [file join $build vivado $bd.runs impl_1 ${bd}_wrapper.bit] [file join $output $name.bit]
file copy -force [file join $build vivado $bd.gen sources_1 bd $bd hw_handoff $bd.hwh] [file join $output $name.hwh]
puts "vivado.tcl: wrote [file join $output $name.bit] and [file join $output $name.hwh]"
exit
