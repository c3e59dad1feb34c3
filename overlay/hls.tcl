# Vitis HLS batch script: C simulation, synthesis and IP export of the streamcnn
# accelerator for the PYNQ-Z2 (xc7z020clg400-1, 100 MHz).
#
#   vitis_hls -f hls.tcl -tclargs <build dir> <steps> [<config>]
#
# <config> names the accelerator configuration of hls_src/config/ (default mac256, the
# shipped one; mac64 compiles the kernel and testbench with -DSCNN_CONFIG_MAC64).
# <steps> is a comma-separated subset of csim,csynth,cosim,export (default:
# csim,csynth,export).  C simulation runs the testbench (hls_src/tb) on the
# golden-checked vectors in <build dir>/vectors (make vectors writes them);
# C/RTL co-simulation runs it on the small ones in <build dir>/vectors/cosim
# (capabilities, a truncated program, a CRC error, LeNet-5 at batch 1 and at batch 3, a
# segment) and
# fails the script unless every one passes.  A run with csynth starts the
# solution afresh; one without (cosim, export after a checked csynth) reopens it.
# The exported IP lands in <build dir>/hls/solution1/impl/ip with the VLNV
# xilinx.com:hls:streamcnn_top:1.0 (another configuration: streamcnn_top_<config>), which the
# driver looks for.

set script_dir [file dirname [file normalize [info script]]]
set root [file normalize [file join $script_dir ..]]
set src [file join $root hls_src]

set build [file join $script_dir build]
set steps {csim csynth export}
if {[llength $argv] >= 1} { set build [file normalize [lindex $argv 0]] }
if {[llength $argv] >= 2} { set steps [split [lindex $argv 1] ,] }
set config mac256
if {[llength $argv] >= 3} { set config [lindex $argv 2] }
if {![file exists [file join $src config $config.h]]} {
    puts stderr "hls.tcl: unknown configuration '$config' (no hls_src/config/$config.h)"
    exit 1
}
foreach step $steps {
    if {[lsearch -exact {csim csynth cosim export} $step] < 0} {
        puts stderr "hls.tcl: unknown step '$step' (use csim, csynth, cosim, export)"
        exit 1
    }
}
set vectors [file join $build vectors]

set part xc7z020clg400-1
set period 10
# The kernel includes Vitis HLS's own hls_stream.h and ap_axi_sdata.h: never the host shim.
set cflags "-I$src -std=c++14"
set ipname streamcnn_top
if {$config ne "mac256"} {
    append cflags " -DSCNN_CONFIG_[string toupper $config]"
    set ipname streamcnn_top_$config
}

set fresh [expr {[lsearch -exact $steps csynth] >= 0}]

cd $build
if {$fresh} { open_project -reset hls } else { open_project hls }
set_top streamcnn_top
add_files [file join $src streamcnn.cpp] -cflags $cflags
add_files -tb [file join $src tb streamcnn_tb.cpp] -cflags $cflags
if {$fresh} { open_solution -reset solution1 -flow_target vivado } else { open_solution solution1 -flow_target vivado }
set_part $part
create_clock -period $period -name default

if {[lsearch -exact $steps csim] >= 0} {
    csim_design -argv $vectors
}
if {[lsearch -exact $steps csynth] >= 0} {
    csynth_design
}
if {[lsearch -exact $steps cosim] >= 0} {
    # A testbench that returns non-zero (a response differing from the golden-checked one)
    # makes cosim_design fail: so does the build.
    if {[catch {cosim_design -argv [file join $vectors cosim] -trace_level none} message]} {
        puts stderr "hls.tcl: C/RTL co-simulation failed: $message"
        exit 1
    }
}
if {[lsearch -exact $steps export] >= 0} {
    # The shipped configuration keeps the VLNV xilinx.com:hls:streamcnn_top:1.0; another is named
    # after itself, so that the accelerator library's variants can share one Vivado project.
    export_design -format ip_catalog -vendor xilinx.com -library hls -version 1.0 -ipname $ipname \
        -description "streamcnn: int8 CNN accelerator driven by a streamed program ($config)"
}
exit
