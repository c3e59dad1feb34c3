# Vivado batch script: the accelerator library, one static shell and one reconfigurable
# partition (Dynamic Function eXchange) holding either accelerator variant.
#
#   vivado -mode batch -source dfx.tcl -tclargs <build dir> <output dir> <jobs> <variant> [<variant> ...]
#
# Each <variant> is a configuration of hls_src/config/ whose HLS IP hls.tcl exported into
# <build dir>/<variant>/hls/solution1/impl/ip (make -C overlay library does both).  The static
# shell is vivado.tcl's design (PS7, AXI DMA at 0x40400000, the AXI-Lite path, FCLK0 100 MHz)
# with the accelerator moved into a block design container, `rp_streamcnn`, whose module is
# reconfigurable: one block design per variant (`rm_<variant>`, the accelerator instance named
# `accelerator` in each, at 0x43C00000).  The partition is a pblock of whole clock regions
# (`HD.RECONFIGURABLE`, snapping on), every configuration is implemented against the one locked
# static route, `pr_verify` checks them pairwise, and <output dir> receives
#
#   streamcnn-shell.bit, streamcnn-shell.hwh     the full bitstream (the first variant loaded)
#   streamcnn-<variant>.bit, .hwh                each variant's partial bitstream and its own
#                                                .hwh, which pynq's pr_download needs
#   library.txt                                  the variants, in order, and the partition's name
#
# plus the timing and utilization reports.  Nothing is written for a configuration that misses
# timing or fails pr_verify.

set script_dir [file dirname [file normalize [info script]]]
if {[llength $argv] < 4} {
    puts stderr "dfx.tcl: usage: -tclargs <build dir> <output dir> <jobs> <variant> \[<variant> ...\]"
    exit 1
}
set build [file normalize [lindex $argv 0]]
set output [file normalize [lindex $argv 1]]
set jobs [lindex $argv 2]
set variants [lrange $argv 3 end]

source [file join $script_dir shell.tcl]
shell_check_version dfx.tcl

set part xc7z020clg400-1
set bd streamcnn
set rp rp_streamcnn
# The partition: every clock region but X0Y0, which keeps the static logic beside the PS.  It
# must hold the larger of each resource over the variants (docs/resources.md: mac256's DSPs and
# LUTs, mac64's BRAM), about 80% of the device.
set rp_regions {CLOCKREGION_X0Y1:CLOCKREGION_X1Y2 CLOCKREGION_X1Y0:CLOCKREGION_X1Y0}

proc ipname {variant} {
    if {$variant eq "mac256"} { return streamcnn_top }
    return streamcnn_top_$variant
}

set repos {}
foreach variant $variants {
    set repo [file join $build $variant hls solution1 impl ip]
    if {![file exists [file join $repo component.xml]]} {
        puts stderr "dfx.tcl: no HLS IP for $variant in $repo; run hls.tcl for it first (make library)"
        exit 1
    }
    lappend repos $repo
}

create_project -force $bd [file join $build dfx] -part $part
set_property ip_repo_paths $repos [current_project]
update_ip_catalog
set_property PR_FLOW 1 [current_project]

# -- one block design per reconfigurable module: the accelerator and its three interfaces ---------
foreach variant $variants {
    set rm rm_$variant
    create_bd_design $rm
    create_bd_cell -type ip -vlnv xilinx.com:hls:[ipname $variant]:1.0 accelerator
    # the module's ports keep the accelerator's pin names: every module presents the same boundary
    foreach intf {prog_in resp_out s_axi_control} {
        make_bd_intf_pins_external -name $intf [get_bd_intf_pins accelerator/$intf]
    }
    foreach pin {ap_clk ap_rst_n} { make_bd_pins_external -name $pin [get_bd_pins accelerator/$pin] }
    assign_bd_address
    set_property offset 0x43C00000 [get_bd_addr_segs -of_objects [get_bd_addr_spaces s_axi_control*]]
    set_property range 64K [get_bd_addr_segs -of_objects [get_bd_addr_spaces s_axi_control*]]
    validate_bd_design
    save_bd_design
    close_bd_design [current_bd_design]
}

# -- the static shell: vivado.tcl's design with the accelerator in a DFX container ---------------
create_bd_design $bd
shell_ps_and_dma

# The container: the first variant is its module at first; every variant is a module it may hold.
set first [lindex $variants 0]
set synth_bds {}
foreach variant $variants { lappend synth_bds rm_$variant.bd }
set container [create_bd_cell -type container -reference rm_$first $rp]
set_property -dict [list \
    CONFIG.ENABLE_DFX {true} \
    CONFIG.LIST_SYNTH_BD [join $synth_bds :] \
    CONFIG.LIST_SIM_BD [join $synth_bds :] \
] $container

# While the partition is reconfigured its outputs are undefined: a DFX Decoupler between it and
# the static shell holds the partition's side of its three interfaces quiet (no valid, ready or
# response reaches the DMA or the AXI-Lite interconnect).  One output of an AXI GPIO at
# 0x41200000 drives it (channel 1, bit 0: 1 decouples) and channel 2 reads its status back; the
# driver decouples before every partial download and couples after (devices/pynq_library.py).
# Neither cell's name starts with the partition's: pynq drops every IP under that prefix from its
# dictionary when a partial bitstream's metadata comes in.  The widths are the HLS IP's: 64-bit
# streams with TKEEP, TSTRB and TLAST (ap_axiu<64, 0, 0, 0>), a 7-bit AXI-Lite address
# (registers up to 0x44).  A MODE is that of the decoupler's static side (`s_<intf>`): slave
# where the shell drives the partition (the program stream, AXI-Lite), master where the
# partition answers; `rp_<intf>` faces the partition.  The decoupler is combinational: no clock.
set decoupler [create_bd_cell -type ip -vlnv xilinx.com:ip:dfx_decoupler:1.0 dfx_decoupler]
set stream {TDATA {PRESENT 1 WIDTH 64} TKEEP {PRESENT 1 WIDTH 8} TSTRB {PRESENT 1 WIDTH 8} TLAST {PRESENT 1 WIDTH 1} \
    TVALID {PRESENT 1 WIDTH 1} TREADY {PRESENT 1 WIDTH 1}}
set_property CONFIG.ALL_PARAMS [list HAS_SIGNAL_CONTROL 1 HAS_SIGNAL_STATUS 1 INTF [list \
    prog_in [list ID 0 VLNV xilinx.com:interface:axis_rtl:1.0 MODE slave SIGNALS $stream] \
    resp_out [list ID 1 VLNV xilinx.com:interface:axis_rtl:1.0 MODE master SIGNALS $stream] \
    s_axi_control [list ID 2 VLNV xilinx.com:interface:aximm_rtl:1.0 MODE slave PROTOCOL axi4lite \
        SIGNALS {ARADDR {PRESENT 1 WIDTH 7} AWADDR {PRESENT 1 WIDTH 7}}]]] $decoupler
foreach intf {prog_in resp_out s_axi_control} {
    connect_bd_intf_net [get_bd_intf_pins $decoupler/rp_$intf] [get_bd_intf_pins $rp/$intf]
}
set gpio [create_bd_cell -type ip -vlnv xilinx.com:ip:axi_gpio:2.0 dfx_decouple]
set_property -dict [list CONFIG.C_GPIO_WIDTH {1} CONFIG.C_ALL_OUTPUTS {1} CONFIG.C_IS_DUAL {1} \
    CONFIG.C_GPIO2_WIDTH {1} CONFIG.C_ALL_INPUTS_2 {1}] $gpio
connect_bd_net [get_bd_pins $gpio/gpio_io_o] [get_bd_pins $decoupler/decouple]
connect_bd_net [get_bd_pins $decoupler/decouple_status] [get_bd_pins $gpio/gpio2_io_i]
# The accelerator's segment inside the container is named after its cell (`accelerator`)
shell_connect $decoupler/s_prog_in $decoupler/s_resp_out [list $decoupler/s_s_axi_control $gpio/S_AXI] \
    [list *dfx_decouple* 0x41200000 *accelerator* 0x43C00000]
shell_clock [list $rp]
shell_finish [file join $build dfx] $bd

# -- the partition's floorplan ---------------------------------------------------------------------
file mkdir [file join $build dfx]
set xdc [file join $build dfx pblock.xdc]
set h [open $xdc w]
puts $h "create_pblock pblock_$rp"
puts $h "add_cells_to_pblock \[get_pblocks pblock_$rp\] \[get_cells -quiet \[list ${bd}_i/$rp\]\]"
puts $h "resize_pblock \[get_pblocks pblock_$rp\] -add {$rp_regions}"
puts $h "set_property SNAPPING_MODE ON \[get_pblocks pblock_$rp\]"
puts $h "set_property HD.RECONFIGURABLE true \[get_cells ${bd}_i/$rp\]"
puts $h "set_property RESET_AFTER_RECONFIG true \[get_pblocks pblock_$rp\]"
close $h
add_files -fileset constrs_1 -norecurse $xdc

# -- one configuration per variant, the first the parent run --------------------------------------
set runs {}
set index 0
foreach variant $variants {
    set config config_$variant
    create_pr_configuration -name $config -partitions [list ${bd}_i/$rp:rm_${variant}_inst_0]
    if {$index == 0} {
        set run impl_1
        set_property PR_CONFIGURATION $config [get_runs $run]
    } else {
        set run child_${index}_impl_1
        create_run $run -parent_run impl_1 -flow [get_property FLOW [get_runs impl_1]] -pr_config $config
    }
    lappend runs $run
    incr index
}

launch_runs $runs -to_step write_bitstream -jobs $jobs
foreach run $runs { wait_on_run $run }

file mkdir $output
set routed {}
foreach variant $variants run $runs {
    set status [get_property STATUS [get_runs $run]]
    if {[string first "write_bitstream Complete" $status] < 0} {
        puts stderr "dfx.tcl: $variant's implementation ($run) did not finish: $status"
        exit 1
    }
    open_run $run
    report_timing_summary -max_paths 10 -file [file join $output streamcnn-$variant.timing.rpt]
    report_utilization -pblocks [get_pblocks pblock_$rp] -file [file join $output streamcnn-$variant.utilization.rpt]
    set wns [get_property STATS.WNS [get_runs $run]]
    set whs [get_property STATS.WHS [get_runs $run]]
    if {![string is double -strict $wns] || ![string is double -strict $whs] || $wns < 0 || $whs < 0} {
        puts stderr "dfx.tcl: $variant misses timing (WNS $wns ns, WHS $whs ns at 100 MHz): no library written;\
            see [file join $output streamcnn-$variant.timing.rpt]"
        exit 1
    }
    close_design
    lappend routed [file join $build dfx $bd.runs $run ${bd}_wrapper_routed.dcp]
}

# -- every configuration against the first: the same static route, compatible partitions ----------
if {[llength $routed] > 1} {
    set report [file join $output pr_verify.rpt]
    if {[catch {pr_verify -initial [lindex $routed 0] -additional [lrange $routed 1 end] -file $report} message]} {
        puts stderr "dfx.tcl: pr_verify failed: $message (see $report)"
        exit 1
    }
}

# -- the library: the full bitstream, and each variant's partial bitstream with its .hwh ----------
set handoff [file join $build dfx $bd.gen sources_1 bd]
file copy -force [file join $build dfx $bd.runs impl_1 ${bd}_wrapper.bit] [file join $output streamcnn-shell.bit]
file copy -force [file join $handoff $bd hw_handoff $bd.hwh] [file join $output streamcnn-shell.hwh]
set h [open [file join $output library.txt] w]
puts $h "partition $rp"
foreach variant $variants run $runs {
    set partial [file join $build dfx $bd.runs $run ${bd}_i_${rp}_rm_${variant}_inst_0_partial.bit]
    file copy -force $partial [file join $output streamcnn-$variant.bit]
    file copy -force [file join $handoff rm_$variant hw_handoff rm_$variant.hwh] [file join $output streamcnn-$variant.hwh]
    puts $h "variant $variant streamcnn-$variant.bit"
}
close $h
puts "dfx.tcl: wrote the library for [join $variants {, }] into $output"
exit
